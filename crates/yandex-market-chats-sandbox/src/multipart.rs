//! The `file` part of sendFileToChat's `multipart/form-data` body, read
//! with multer.

use std::convert::Infallible;

use bytes::Bytes;

/// The uploaded file.
pub(crate) struct FilePart {
    /// The part's `filename`, if it had one.
    pub(crate) file_name: Option<String>,
    pub(crate) data: Bytes,
}

/// The form's first part named `file`. The whole form is read, so that a
/// malformed body is refused even after its `file` part, as the API would.
pub(crate) async fn file_part(content_type: Option<&str>, body: Bytes) -> Result<FilePart, String> {
    let not_multipart = |_| "the body must be multipart/form-data".to_owned();
    let boundary =
        multer::parse_boundary(content_type.unwrap_or_default()).map_err(not_multipart)?;
    // The body is already in memory: one chunk.
    let chunks = futures::stream::once(async move { Ok::<_, Infallible>(body) });
    let mut form = multer::Multipart::new(chunks, boundary);
    let mut file = None;
    while let Some(field) = form.next_field().await.map_err(not_multipart)? {
        let is_file = field.name() == Some("file");
        let file_name = field.file_name().map(str::to_owned);
        let data = field.bytes().await.map_err(not_multipart)?;
        if is_file && file.is_none() {
            file = Some(FilePart { file_name, data });
        }
    }
    file.ok_or_else(|| "the form has no `file` part".to_owned())
}
