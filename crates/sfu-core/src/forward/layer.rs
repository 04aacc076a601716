//! Simulcast layer choice for one subscriber of one video track.
//!
//! The publisher sends up to three spatial layers (LiveKit rids `q`, `h`, `f`: low, medium,
//! high). A subscriber asks for a size (adaptive stream sends the rendered element's size) or
//! a quality, or pauses the track; its bandwidth estimate caps what it can receive. The
//! choice here is pure: the caller applies it on the next keyframe of the chosen layer.

use huiyi_proto::lk::{VideoLayer, VideoQuality};

/// A spatial layer index: 0 = low, 1 = medium, 2 = high.
pub type LayerIndex = u8;

/// The highest layer index Huiyi forwards.
pub const MAX_LAYER: LayerIndex = 2;

/// Maps a LiveKit simulcast rid to its layer. A track without simulcast has one layer, 0.
pub fn layer_of_rid(rid: Option<&str>) -> LayerIndex {
    match rid {
        Some("q") => 0,
        Some("h") => 1,
        Some("f") => 2,
        // Other SDKs name layers by number or not at all.
        Some("1") => 1,
        Some("2") => 2,
        _ => 0,
    }
}

/// What a subscriber asked for through `UpdateTrackSettings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackSettings {
    /// The subscriber does not render this track: forward nothing.
    pub disabled: bool,
    /// Requested size in pixels; 0×0 means "use `quality`".
    pub width: u32,
    pub height: u32,
    /// Requested quality when no size is given.
    pub quality: VideoQuality,
}

impl Default for TrackSettings {
    fn default() -> Self {
        Self { disabled: false, width: 0, height: 0, quality: VideoQuality::High }
    }
}

/// The best layer for these settings, among the layers the publisher announced (`layers`,
/// in any order) and that are currently arriving (`available`, indexed by layer), within
/// `budget_bps` when a bandwidth estimate is known. `None` pauses the track.
pub fn select_layer(
    layers: &[VideoLayer],
    available: [bool; 3],
    settings: &TrackSettings,
    budget_bps: Option<u64>,
) -> Option<LayerIndex> {
    if settings.disabled {
        return None;
    }
    let mut wanted = if settings.width == 0 && settings.height == 0 {
        quality_layer(settings.quality)
    } else {
        layer_for_size(layers, settings.width, settings.height)
    };
    if let Some(budget) = budget_bps {
        while wanted > 0 && layer_bitrate(layers, wanted).is_some_and(|b| b > budget) {
            wanted -= 1;
        }
    }
    // Prefer the wanted layer, then lower ones (cheaper), then higher ones (better than nothing).
    (0..=wanted).rev().chain(wanted + 1..=MAX_LAYER).find(|&l| available[l as usize])
}

fn quality_layer(q: VideoQuality) -> LayerIndex {
    match q {
        VideoQuality::Low => 0,
        VideoQuality::Medium => 1,
        VideoQuality::High | VideoQuality::Off => 2,
    }
}

/// The smallest layer at least as large as the requested size; the largest one otherwise.
fn layer_for_size(layers: &[VideoLayer], width: u32, height: u32) -> LayerIndex {
    let mut sized: Vec<(LayerIndex, u32, u32)> = layers
        .iter()
        .map(|l| (quality_layer(VideoQuality::try_from(l.quality).unwrap_or(VideoQuality::High)), l.width, l.height))
        .collect();
    if sized.is_empty() {
        return MAX_LAYER;
    }
    sized.sort_by_key(|&(idx, _, _)| idx);
    let want = width.max(height);
    sized
        .iter()
        .find(|&&(_, w, h)| w.max(h) >= want)
        .or(sized.last())
        .map(|&(idx, _, _)| idx)
        .unwrap_or(MAX_LAYER)
}

fn layer_bitrate(layers: &[VideoLayer], idx: LayerIndex) -> Option<u64> {
    layers
        .iter()
        .find(|l| quality_layer(VideoQuality::try_from(l.quality).unwrap_or(VideoQuality::High)) == idx)
        .map(|l| l.bitrate as u64)
        .filter(|&b| b > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers() -> Vec<VideoLayer> {
        [(VideoQuality::Low, 320, 180, 150_000), (VideoQuality::Medium, 640, 360, 500_000), (VideoQuality::High, 1280, 720, 1_700_000)]
            .into_iter()
            .map(|(q, w, h, b)| VideoLayer { quality: q as i32, width: w, height: h, bitrate: b, ..Default::default() })
            .collect()
    }

    const ALL: [bool; 3] = [true, true, true];

    fn size(w: u32, h: u32) -> TrackSettings {
        TrackSettings { width: w, height: h, ..Default::default() }
    }

    #[test]
    fn picks_the_smallest_layer_that_covers_the_element() {
        assert_eq!(select_layer(&layers(), ALL, &size(300, 170), None), Some(0));
        assert_eq!(select_layer(&layers(), ALL, &size(400, 225), None), Some(1));
        assert_eq!(select_layer(&layers(), ALL, &size(1920, 1080), None), Some(2));
    }

    #[test]
    fn quality_without_size() {
        let s = TrackSettings { quality: VideoQuality::Medium, ..Default::default() };
        assert_eq!(select_layer(&layers(), ALL, &s, None), Some(1));
    }

    #[test]
    fn disabled_pauses() {
        let s = TrackSettings { disabled: true, ..Default::default() };
        assert_eq!(select_layer(&layers(), ALL, &s, None), None);
    }

    #[test]
    fn bandwidth_caps_the_layer() {
        assert_eq!(select_layer(&layers(), ALL, &size(1280, 720), Some(600_000)), Some(1));
        assert_eq!(select_layer(&layers(), ALL, &size(1280, 720), Some(100_000)), Some(0));
    }

    #[test]
    fn falls_back_to_a_layer_that_is_arriving() {
        // High is paused at the publisher: take medium rather than nothing.
        assert_eq!(select_layer(&layers(), [true, true, false], &size(1280, 720), None), Some(1));
        // Only high arrives: better than nothing even for a small tile.
        assert_eq!(select_layer(&layers(), [false, false, true], &size(100, 100), None), Some(2));
        assert_eq!(select_layer(&layers(), [false; 3], &size(100, 100), None), None);
    }

    #[test]
    fn rids() {
        assert_eq!(layer_of_rid(Some("q")), 0);
        assert_eq!(layer_of_rid(Some("f")), 2);
        assert_eq!(layer_of_rid(None), 0);
    }
}
