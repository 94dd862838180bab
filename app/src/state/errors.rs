//! The error shown at each place of the interface; a handful at most, so a list.

use super::Slot;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Errors(Vec<(Slot, String)>);

impl Errors {
    pub fn get(&self, slot: &Slot) -> Option<&String> {
        self.0.iter().find(|(s, _)| s == slot).map(|(_, text)| text)
    }

    /// Shows `text` at `slot`, replacing what was there.
    pub fn insert(&mut self, slot: Slot, text: String) {
        self.remove(&slot);
        self.0.push((slot, text));
    }

    /// Adds `text` after what `slot` shows (the answers of one decision on several
    /// users).
    pub fn append(&mut self, slot: Slot, text: String) {
        match self.0.iter_mut().find(|(s, _)| *s == slot) {
            Some((_, shown)) => {
                shown.push(' ');
                shown.push_str(&text);
            }
            None => self.0.push((slot, text)),
        }
    }

    pub fn remove(&mut self, slot: &Slot) {
        self.0.retain(|(s, _)| s != slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_text_per_slot() {
        let mut errors = Errors::default();
        errors.insert(Slot::CreateRoom, "a".into());
        errors.insert(Slot::CreateRoom, "b".into());
        errors.insert(Slot::JoinRoom, "c".into());
        assert_eq!(errors.get(&Slot::CreateRoom).map(String::as_str), Some("b"));
        errors.remove(&Slot::CreateRoom);
        assert_eq!(errors.get(&Slot::CreateRoom), None);
        assert_eq!(errors.get(&Slot::JoinRoom).map(String::as_str), Some("c"));
        errors.append(Slot::JoinRoom, "d".into());
        errors.append(Slot::General, "e".into());
        assert_eq!(errors.get(&Slot::JoinRoom).map(String::as_str), Some("c d"));
        assert_eq!(errors.get(&Slot::General).map(String::as_str), Some("e"));
    }
}
