//! Building the object store that holds chunk files, from `common.storage`.

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::StoreError;

/// `common.storage`: where chunk files live. Local filesystem unless `s3` is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Local filesystem storage.
    pub filesystem: Option<FilesystemStorage>,
    /// S3 (or S3-compatible) storage.
    pub s3: Option<S3Storage>,
}

/// `common.storage.filesystem`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesystemStorage {
    /// Directory for chunk files (default `<path_prefix>/chunks`).
    pub chunks_directory: Option<String>,
}

/// `common.storage.s3`, with Loki's key names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Storage {
    /// Bucket name (Loki accepts a comma-separated list; Skald uses the first).
    pub bucketnames: String,
    /// Endpoint URL for S3-compatible stores (MinIO, Ceph); empty means AWS.
    pub endpoint: String,
    /// Region.
    pub region: String,
    /// Access key id; empty means the environment's credentials.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Allow plain HTTP to the endpoint.
    pub insecure: bool,
    /// Use path-style addressing (`endpoint/bucket/key`).
    pub s3forcepathstyle: bool,
}

/// The chunk object store, and its root directory when it is the local filesystem.
#[derive(Debug, Clone)]
pub struct ChunkStore {
    /// Where chunk files are written and read.
    pub store: Arc<dyn ObjectStore>,
    /// The directory behind `store` when it is a local filesystem; `None` for remote stores.
    pub local_root: Option<PathBuf>,
}

impl ChunkStore {
    /// A remote (or otherwise self-durable) store.
    pub fn remote(store: Arc<dyn ObjectStore>) -> ChunkStore {
        ChunkStore { store, local_root: None }
    }

    /// A local filesystem store rooted at `root`.
    pub fn local(root: &Path) -> Result<ChunkStore, StoreError> {
        std::fs::create_dir_all(root)?;
        Ok(ChunkStore { store: Arc::new(LocalFileSystem::new_with_prefix(root)?), local_root: Some(root.to_path_buf()) })
    }

    /// Makes a written object durable before anything depends on it. A remote store has it
    /// durably once the upload returns; `LocalFileSystem` only renames into place, so the
    /// file and every directory from its parent up to the root are fsynced here.
    pub async fn sync(&self, path: &str) -> Result<(), StoreError> {
        let Some(root) = self.local_root.clone() else { return Ok(()) };
        let path = path.to_string();
        tokio::task::spawn_blocking(move || sync_local(&root, &path))
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e)))?
    }
}

fn sync_local(root: &Path, rel: &str) -> Result<(), StoreError> {
    let file = root.join(rel);
    std::fs::File::open(&file)?.sync_all()?;
    let mut dir = file.parent();
    while let Some(d) = dir {
        std::fs::File::open(d)?.sync_all()?;
        if d == root {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

/// The URL of an S3 `endpoint` as Loki takes it: `host:port` (the scheme from `insecure`:
/// http when true, https otherwise) or a full `http(s)://` URL.
fn endpoint_url(endpoint: &str, insecure: bool) -> Result<String, StoreError> {
    let endpoint = endpoint.trim();
    let url = if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("{}://{endpoint}", if insecure { "http" } else { "https" })
    };
    let bad = |why: String| StoreError::Config(format!("common.storage.s3.endpoint {endpoint:?}: {why}"));
    let parsed = url::Url::parse(&url).map_err(|e| bad(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("expected host:port or an http(s) URL".into()));
    }
    Ok(url)
}

/// Builds the configured chunk store; `data_dir` is `common.path_prefix`.
pub fn build_object_store(cfg: &StorageConfig, data_dir: &Path) -> Result<ChunkStore, StoreError> {
    if let Some(s3) = &cfg.s3 {
        let bucket = s3.bucketnames.split(',').next().unwrap_or("").trim();
        if bucket.is_empty() {
            return Err(StoreError::Config("common.storage.s3.bucketnames must name a bucket".into()));
        }
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_allow_http(s3.insecure)
            .with_virtual_hosted_style_request(!s3.s3forcepathstyle);
        if !s3.endpoint.is_empty() {
            b = b.with_endpoint(endpoint_url(&s3.endpoint, s3.insecure)?);
        }
        if !s3.region.is_empty() {
            b = b.with_region(&s3.region);
        }
        if !s3.access_key_id.is_empty() {
            b = b.with_access_key_id(&s3.access_key_id).with_secret_access_key(&s3.secret_access_key);
        }
        return Ok(ChunkStore::remote(Arc::new(b.build()?)));
    }
    let dir = cfg
        .filesystem
        .as_ref()
        .and_then(|f| f.chunks_directory.clone())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| data_dir.join("chunks"));
    ChunkStore::local(&dir)
}

#[cfg(test)]
mod tests {
    use super::endpoint_url;

    #[test]
    fn endpoints_take_loki_forms() {
        assert_eq!(endpoint_url("minio:9000", true).ok().as_deref(), Some("http://minio:9000"));
        assert_eq!(endpoint_url("s3.example.com", false).ok().as_deref(), Some("https://s3.example.com"));
        assert_eq!(endpoint_url("http://127.0.0.1:9000", false).ok().as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(endpoint_url("[::1]:9000", true).ok().as_deref(), Some("http://[::1]:9000"));
        for bad in ["ftp://x:1", "http://", "minio:port", "a b:1"] {
            assert!(endpoint_url(bad, true).is_err(), "{bad} accepted");
        }
    }
}
