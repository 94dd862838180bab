//! SQLite backend (being written).
pub struct SqliteStorage;

impl SqliteStorage {
    pub async fn connect(_url: &str) -> super::StorageResult<Self> {
        todo!()
    }
}
