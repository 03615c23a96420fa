//! QR codes as SVG, for the panel and the subscription page, and as PNG pictures for the
//! Telegram bot (Telegram shows photos, not SVG).

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

/// Pixels per module of a PNG code, and the quiet zone around it in modules.
const PNG_SCALE: usize = 8;
const QUIET: usize = 4;

/// A black on white PNG picture of the code (grey scale, one byte a pixel).
pub fn png(text: &str) -> Result<Vec<u8>, QrError> {
    if text.len() > MAX_TEXT {
        return Err(QrError::TooLong(text.len()));
    }
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L)
        .map_err(|e| QrError::Encode(e.to_string()))?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * PNG_SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != qrcode::Color::Dark {
            continue;
        }
        let (mx, my) = (i % modules + QUIET, i / modules + QUIET);
        for y in my * PNG_SCALE..(my + 1) * PNG_SCALE {
            pixels[y * side + mx * PNG_SCALE..y * side + (mx + 1) * PNG_SCALE].fill(0);
        }
    }
    let mut out = Vec::new();
    let side = u32::try_from(side).map_err(|e| QrError::Encode(e.to_string()))?;
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let encoded = encoder
        .write_header()
        .and_then(|mut w| w.write_image_data(&pixels));
    encoded.map_err(|e| QrError::Encode(e.to_string()))?;
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_codes_are_pictures_of_the_code() {
        let bytes = png("vless://uuid@example.com:443?security=reality#a").unwrap();
        let decoder = ::png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!(info.width, info.height);
        assert!(info.width >= 200);
        // The quiet zone is white, the finder pattern's corner black.
        let w = info.width as usize;
        assert_eq!(pixels[0], 255);
        assert_eq!(pixels[QUIET * PNG_SCALE * w + QUIET * PNG_SCALE], 0);
        assert!(matches!(
            png(&"x".repeat(3000)),
            Err(QrError::TooLong(3000))
        ));
    }
}
