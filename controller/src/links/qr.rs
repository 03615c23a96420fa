//! QR codes as SVG, for the panel, the bot and the subscription page.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// Longest text turned into a QR code; a share link with every parameter fits easily.
pub const MAX_TEXT: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("text is {0} bytes; at most {MAX_TEXT} fit in a QR code here")]
    TooLong(usize),
    #[error("text cannot be encoded as a QR code: {0}")]
    Encode(String),
}

/// An `<svg>` element (no XML declaration, so it can be inlined in HTML).
pub fn svg(text: &str) -> Result<String, QrError> {
    if text.len() > MAX_TEXT {
        return Err(QrError::TooLong(text.len()));
    }
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L)
        .map_err(|e| QrError::Encode(e.to_string()))?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    Ok(match image.find("<svg") {
        Some(at) => image[at..].to_owned(),
        None => image,
    })
}
