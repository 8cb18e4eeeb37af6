//! camrelay as a library: options ([`config`]) and the relay loop ([`relay`]). The binary is a
//! thin shell around them.

pub mod config;
pub mod relay;
