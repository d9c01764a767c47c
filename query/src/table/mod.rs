//! The two DataFusion table providers a log query reads: chunk files and head batches.
//!
//! Both expose [`store::schema::entry_schema`]; a query unions them. They hold exactly what
//! one [`ReadSnapshot`](store::view::ReadSnapshot) hands out, so together they see every
//! entry once.

pub mod chunks;
pub mod heads;
pub mod skip;

pub use chunks::{CHUNKS_URL, ChunkTable};
pub use heads::HeadTable;
