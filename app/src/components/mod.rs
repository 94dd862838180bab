//! The views. Each reads what it needs from the contexts in [`crate::client`].

pub mod account;
pub mod account_delete;
pub mod account_password;
pub mod account_sessions;
pub mod composer;
pub mod connection_status;
pub mod copy_button;
pub mod error_text;
pub mod home;
pub mod invite_links;
pub mod join_requests;
pub mod member_list;
pub mod message_list;
pub mod message_row;
pub mod notices;
pub mod notify_toggle;
pub mod reason_field;
pub mod room_actions;
pub mod room_list;
pub mod room_view;
pub mod search;
pub mod shell;
pub mod sign_in;
pub mod typing;
