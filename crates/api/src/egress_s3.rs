//! Where a finished recording is kept: the recordings folder by default, or an S3-compatible
//! bucket (AWS, MinIO, Ceph, Tencent COS, Alibaba OSS in S3 mode), named by LiveKit's
//! `S3Upload` in the request or, for every other recording, by the server's configuration
//! (`--recordings-s3-*`, as LiveKit's egress service has a default `s3` block).
//!
//! The worker always writes to the local folder (a fragmented MP4 that a crash leaves
//! playable); when the job ends, its file is uploaded (multipart for large files, through
//! `object_store`), recorded in the job's `FileInfo.location` as `s3://<bucket>/<key>`, and the
//! local copy removed. A download link of such a recording answers with a redirect to a
//! presigned GET on the bucket, valid for [`PRESIGN_TTL`]; deleting the recording deletes the
//! object.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use huiyi_proto::lk;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer;
use object_store::ObjectStore;
use tokio::io::AsyncWriteExt;

/// How long a presigned download stays valid: enough to start a download or playback.
pub const PRESIGN_TTL: Duration = Duration::from_secs(15 * 60);

/// A bucket and the credentials to write it.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Target {
    pub bucket: String,
    /// Empty for AWS itself; otherwise the service's URL (`http://127.0.0.1:9000`).
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    pub secret: String,
    pub session_token: String,
    /// Path-style URLs (`endpoint/bucket/key`), which MinIO and most local servers need.
    pub force_path_style: bool,
}

impl std::fmt::Debug for S3Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("S3Target").field("bucket", &self.bucket).field("endpoint", &self.endpoint).field("region", &self.region).finish_non_exhaustive()
    }
}

impl S3Target {
    /// From LiveKit's `S3Upload`, checked.
    pub fn from_livekit(u: &lk::S3Upload) -> Result<Self, String> {
        if u.bucket.is_empty() || u.bucket.len() > 63 {
            return Err("s3.bucket is required (at most 63 characters)".into());
        }
        if !(u.endpoint.is_empty() || u.endpoint.starts_with("http://") || u.endpoint.starts_with("https://")) {
            return Err("s3.endpoint must be an http:// or https:// URL".into());
        }
        Ok(S3Target {
            bucket: u.bucket.clone(),
            endpoint: u.endpoint.clone(),
            region: if u.region.is_empty() { "us-east-1".into() } else { u.region.clone() },
            access_key: u.access_key.clone(),
            secret: u.secret.clone(),
            session_token: u.session_token.clone(),
            force_path_style: u.force_path_style,
        })
    }

    fn store(&self) -> Result<AmazonS3, String> {
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_region(&self.region)
            .with_access_key_id(&self.access_key)
            .with_secret_access_key(&self.secret)
            .with_virtual_hosted_style_request(!self.force_path_style)
            .with_allow_http(true);
        if !self.endpoint.is_empty() {
            b = b.with_endpoint(&self.endpoint);
        }
        if !self.session_token.is_empty() {
            b = b.with_token(&self.session_token);
        }
        b.build().map_err(|e| format!("S3 configuration: {e}"))
    }

    /// `s3://bucket/key`, as recorded in `FileInfo.location`.
    pub fn location(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, key)
    }

    /// Uploads `local` as `key`, in parts; returns the object's size.
    pub async fn upload(&self, local: &Path, key: &str) -> Result<u64, String> {
        let store: Arc<dyn ObjectStore> = Arc::new(self.store()?);
        let mut file = tokio::fs::File::open(local).await.map_err(|e| format!("cannot read {}: {e}", local.display()))?;
        let mut writer = object_store::buffered::BufWriter::new(store, ObjectPath::from(key));
        let copied = tokio::io::copy(&mut file, &mut writer).await;
        match copied {
            Ok(n) => {
                writer.shutdown().await.map_err(|e| format!("upload to {} failed: {e}", self.location(key)))?;
                Ok(n)
            }
            Err(e) => {
                let _ = writer.abort().await;
                Err(format!("upload to {} failed: {e}", self.location(key)))
            }
        }
    }

    /// A presigned GET of `key`.
    pub async fn presigned_get(&self, key: &str) -> Result<String, String> {
        let store = self.store()?;
        store
            .signed_url(axum::http::Method::GET, &ObjectPath::from(key), PRESIGN_TTL)
            .await
            .map(|u| u.to_string())
            .map_err(|e| format!("cannot sign a link: {e}"))
    }

    pub async fn delete(&self, key: &str) -> Result<(), String> {
        let store = self.store()?;
        match store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(format!("cannot delete {}: {e}", self.location(key))),
        }
    }
}

/// Splits `s3://bucket/key` into its parts.
pub fn parse_location(location: &str) -> Option<(&str, &str)> {
    let rest = location.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then_some((bucket, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_name_bucket_and_key() {
        assert_eq!(parse_location("s3://recs/room/a.mp4"), Some(("recs", "room/a.mp4")));
        assert_eq!(parse_location("s3://recs/"), None);
        assert_eq!(parse_location("/data/recordings/a.mp4"), None);
    }

    #[test]
    fn a_livekit_upload_is_checked_and_never_printed_with_its_secret() {
        let u = lk::S3Upload { bucket: "b".into(), secret: "hunter2".into(), endpoint: "ftp://x".into(), ..Default::default() };
        assert!(S3Target::from_livekit(&u).is_err(), "not an http endpoint");
        let t = S3Target::from_livekit(&lk::S3Upload { endpoint: "http://127.0.0.1:9000".into(), ..u }).unwrap();
        assert_eq!(t.region, "us-east-1");
        assert!(!format!("{t:?}").contains("hunter2"));
        assert!(S3Target::from_livekit(&lk::S3Upload::default()).is_err(), "no bucket");
    }
}
