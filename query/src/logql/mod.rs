//! LogQL: lexer, AST and parser.
//!
//! [`parse`] turns query text into an [`Expr`]; errors are [`ParseError`]s whose text matches
//! Loki's (`parse error at line 1, col 5: syntax error: unexpected ...`).

pub mod ast;
pub mod error;
pub mod format;
pub mod lexer;
pub mod parser;

pub use ast::Expr;
pub use error::ParseError;
pub use parser::{parse, parse_selector, parse_unvalidated};
