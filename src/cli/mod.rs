//! The command line around the library, cut as ripgrep cuts its binary: the
//! flags ([`args`]), their conversion into the library's settings
//! ([`convert`]), what is printed and written ([`stdout`]), one `run` per
//! command ([`commands`]) and the hint and exit status of an error ([`hint`]).

pub mod args;
pub mod commands;
pub mod convert;
pub mod hint;
pub mod stdout;
