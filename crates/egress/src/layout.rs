//! Where each video tile goes on the composite canvas: a pure function, no GStreamer.
//!
//! A composite has one of LiveKit's named layouts, [`Layout`], chosen by the `start` line and
//! changed by `set_layout`. The rules, as a viewer of the recording would expect them:
//! - **`grid`: a gallery.** Tiles form a grid of equal 16:9 cells, centred, with the column
//!   count that makes the cells largest (2 side by side, 4 as 2×2, 9 as 3×3). Tiles keep their
//!   join order so nobody jumps around when someone speaks; at most [`MAX_GRID`] are shown, and
//!   when there are more, the active speakers take the visible places first.
//! - **`speaker`: the main speaker large.** The main speaker's camera takes the canvas but for a
//!   strip of small 16:9 tiles a quarter of the canvas width wide, where the other cameras sit,
//!   active speakers first; tiles that do not fit are hidden (720p: the speaker 960×720, four
//!   320×180 places). A lone camera fills the canvas.
//! - **`single-speaker`: the main speaker alone** on the full canvas; every other tile is hidden.
//! - **Someone shares a screen: a presentation, in every layout.** The first screen share is
//!   the main picture. In `grid` and `speaker` the cameras (and any further shares) form a strip
//!   beside it of tiles a fifth of the canvas width wide, active speakers first; in
//!   `single-speaker` the share is alone.
//!
//! A strip is a column at the right of a landscape (or square) canvas and a row under a portrait
//! one.
//!
//! **The main speaker** is a participant with a camera, chosen so that the picture does not
//! jump on every short burst of speech: the previous main speaker stays while it is among the
//! active speakers, or while nobody with a camera speaks (silence keeps the last speaker);
//! otherwise the loudest speaker with a camera takes over; before anyone has spoken, it is the
//! first camera in join order. The caller keeps [`Placement::main_speaker`] and passes it back
//! as `previous_main` on the next call. It is followed in every layout, so a switch from `grid`
//! to `speaker` enlarges whoever spoke last.
//!
//! A hidden tile gets [`Rect::HIDDEN`] (zero size). The compositor keeps each input's aspect
//! ratio inside its rect, so a 4:3 camera is letterboxed, not stretched.

use std::fmt;
use std::str::FromStr;

/// One of LiveKit's named composite layouts (`EgressInfo.layout`, `UpdateLayout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// `grid`: equal tiles (today's gallery).
    #[default]
    Grid,
    /// `speaker`: the main speaker large, the other cameras in a strip.
    Speaker,
    /// `single-speaker`: the main speaker alone.
    SingleSpeaker,
}

impl Layout {
    /// LiveKit's name for the layout.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Grid => "grid",
            Layout::Speaker => "speaker",
            Layout::SingleSpeaker => "single-speaker",
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A layout name that is none of LiveKit's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown layout {0:?} (grid, speaker or single-speaker)")]
pub struct UnknownLayout(pub String);

impl FromStr for Layout {
    type Err = UnknownLayout;

    /// LiveKit's names. Its templates also take a `-light` or `-dark` suffix for the background
    /// colour; those parse as the base layout (the canvas stays black).
    fn from_str(name: &str) -> Result<Layout, UnknownLayout> {
        let base = name
            .strip_suffix("-light")
            .or_else(|| name.strip_suffix("-dark"))
            .unwrap_or(name);
        match base {
            "grid" => Ok(Layout::Grid),
            "speaker" => Ok(Layout::Speaker),
            "single-speaker" => Ok(Layout::SingleSpeaker),
            _ => Err(UnknownLayout(name.to_string())),
        }
    }
}

/// The size of the canvas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

/// A rectangle on the canvas, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    pub const HIDDEN: Rect = Rect {
        x: 0,
        y: 0,
        width: 0,
        height: 0,
    };

    pub fn is_hidden(&self) -> bool {
        self.width == 0 || self.height == 0
    }

    #[cfg(test)]
    pub fn area(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    #[cfg(test)]
    pub fn overlaps(&self, other: &Rect) -> bool {
        !self.is_hidden()
            && !other.is_hidden()
            && self.x < other.x + other.width
            && other.x < self.x + self.width
            && self.y < other.y + other.height
            && other.y < self.y + self.height
    }
}

/// One video input to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tile {
    pub identity: String,
    pub screen_share: bool,
}

/// What [`layout`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// One rect per tile, in the tiles' order.
    pub rects: Vec<Rect>,
    /// The participant shown large in `speaker` and alone in `single-speaker` (when nobody
    /// shares a screen); `None` when no camera is there. Pass it back as `previous_main`.
    pub main_speaker: Option<String>,
}

/// Most tiles a gallery shows (4×4).
pub const MAX_GRID: usize = 16;
/// Pixels between tiles.
const GAP: u32 = 4;
/// A presentation's strip tiles are this fraction (1/n) of the canvas width.
const PRESENTATION_STRIP: u32 = 5;
/// A speaker layout's strip tiles are this fraction (1/n) of the canvas width.
const SPEAKER_STRIP: u32 = 4;

/// Places `tiles` (in join order) on `canvas` in `kind`; `speakers` are identities, loudest
/// first; `previous_main` is the last call's [`Placement::main_speaker`].
pub fn layout(
    canvas: Size,
    tiles: &[Tile],
    speakers: &[String],
    kind: Layout,
    previous_main: Option<&str>,
) -> Placement {
    let main_camera = main_speaker(tiles, speakers, previous_main);
    let main_speaker = main_camera.map(|i| tiles[i].identity.clone());
    if tiles.is_empty() || canvas.width == 0 || canvas.height == 0 {
        return Placement {
            rects: vec![Rect::HIDDEN; tiles.len()],
            main_speaker,
        };
    }
    let share = tiles.iter().position(|t| t.screen_share);
    let rects = match (share, kind, main_camera) {
        (Some(share), Layout::SingleSpeaker, _) => alone(canvas, tiles.len(), share),
        (Some(share), _, _) => spotlight(canvas, tiles, speakers, share, PRESENTATION_STRIP),
        (None, Layout::SingleSpeaker, Some(main)) => alone(canvas, tiles.len(), main),
        (None, Layout::Speaker, Some(main)) => {
            spotlight(canvas, tiles, speakers, main, SPEAKER_STRIP)
        }
        // `grid`. (Tiles with neither a share nor a camera cannot be; the gallery would do.)
        _ => gallery(canvas, tiles, speakers),
    };
    Placement {
        rects,
        main_speaker,
    }
}

/// The index of the main speaker's (first) camera tile; see the module header for the rule.
fn main_speaker(tiles: &[Tile], speakers: &[String], previous: Option<&str>) -> Option<usize> {
    let camera_of = |identity: &str| {
        tiles
            .iter()
            .position(|t| !t.screen_share && t.identity == identity)
    };
    let loudest = speakers.iter().find_map(|s| camera_of(s));
    let previous_camera = previous.and_then(camera_of);
    let still_speaking = previous.is_some_and(|p| speakers.iter().any(|s| s == p));
    match (previous_camera, loudest) {
        (Some(prev), _) if still_speaking => Some(prev),
        (Some(prev), None) => Some(prev),
        (_, Some(loudest)) => Some(loudest),
        (None, None) => tiles.iter().position(|t| !t.screen_share),
    }
}

/// Tile `main` fills the canvas; every other tile is hidden.
fn alone(canvas: Size, n: usize, main: usize) -> Vec<Rect> {
    let mut rects = vec![Rect::HIDDEN; n];
    rects[main] = inset(Rect {
        x: 0,
        y: 0,
        width: canvas.width,
        height: canvas.height,
    });
    rects
}

fn gallery(canvas: Size, tiles: &[Tile], speakers: &[String]) -> Vec<Rect> {
    let shown = visible(tiles, speakers, MAX_GRID, |_| true);
    let n = shown.iter().filter(|s| **s).count() as u32;
    let (cols, rows, cell) = best_grid(canvas, n);
    let x0 = (canvas.width - cols * cell.width) / 2;
    let y0 = (canvas.height - rows * cell.height) / 2;
    // The last row is centred too when it is not full.
    let last_row_len = n - (rows - 1) * cols;
    let mut slot = 0u32;
    let mut rects = Vec::with_capacity(tiles.len());
    for show in shown {
        if !show {
            rects.push(Rect::HIDDEN);
            continue;
        }
        let (row, col) = (slot / cols, slot % cols);
        let indent = if row == rows - 1 {
            (cols - last_row_len) * cell.width / 2
        } else {
            0
        };
        rects.push(inset(Rect {
            x: x0 + indent + col * cell.width,
            y: y0 + row * cell.height,
            width: cell.width,
            height: cell.height,
        }));
        slot += 1;
    }
    rects
}

/// The grid (columns, rows, cell size) with the largest 16:9 cells for `n` tiles.
fn best_grid(canvas: Size, n: u32) -> (u32, u32, Size) {
    let mut best = (1, 1, fit_16_9(canvas));
    let mut best_area = 0u64;
    for cols in 1..=n.max(1) {
        let rows = n.div_ceil(cols).max(1);
        let cell = fit_16_9(Size {
            width: canvas.width / cols,
            height: canvas.height / rows,
        });
        let area = u64::from(cell.width) * u64::from(cell.height);
        // `>=`: on a tie, more columns (side by side reads better than stacked).
        if area >= best_area {
            best = (cols, rows, cell);
            best_area = area;
        }
    }
    best
}

/// Tile `main` large, and the others eligible for the strip as small 16:9 tiles `1/fraction` of
/// the canvas width wide: a column at the right of a landscape canvas, a row under a portrait one.
fn spotlight(
    canvas: Size,
    tiles: &[Tile],
    speakers: &[String],
    main: usize,
    fraction: u32,
) -> Vec<Rect> {
    // Even sizes, as I420 wants.
    let tile_w = (canvas.width / fraction) & !1;
    let tile = Size {
        width: tile_w,
        height: ((tile_w * 9 / 16) & !1).max(2),
    };
    let beside = canvas.width >= canvas.height;
    let strip_slots = if beside {
        canvas.height / tile.height
    } else {
        canvas.width / tile.width.max(1)
    } as usize;
    let shown = visible(tiles, speakers, strip_slots, |i| i != main);
    let in_strip: Vec<usize> = order_for_strip(tiles, speakers, main, &shown);
    if in_strip.is_empty() {
        return alone(canvas, tiles.len(), main);
    }
    let mut rects = vec![Rect::HIDDEN; tiles.len()];
    let n = in_strip.len() as u32;
    let (main_rect, strip_origin) = if beside {
        let main_w = canvas.width - tile.width;
        (
            Rect {
                x: 0,
                y: 0,
                width: main_w,
                height: canvas.height,
            },
            (main_w, (canvas.height - n * tile.height) / 2),
        )
    } else {
        let main_h = canvas.height - tile.height;
        (
            Rect {
                x: 0,
                y: 0,
                width: canvas.width,
                height: main_h,
            },
            ((canvas.width - n * tile.width) / 2, main_h),
        )
    };
    rects[main] = inset(main_rect);
    for (slot, &i) in in_strip.iter().enumerate() {
        let slot = slot as u32;
        let (x, y) = if beside {
            (strip_origin.0, strip_origin.1 + slot * tile.height)
        } else {
            (strip_origin.0 + slot * tile.width, strip_origin.1)
        };
        rects[i] = inset(Rect {
            x,
            y,
            width: tile.width,
            height: tile.height,
        });
    }
    rects
}

/// Strip order: active speakers (loudest first), then join order.
fn order_for_strip(tiles: &[Tile], speakers: &[String], main: usize, shown: &[bool]) -> Vec<usize> {
    let rank = |i: usize| {
        speakers
            .iter()
            .position(|s| *s == tiles[i].identity)
            .unwrap_or(usize::MAX)
    };
    let mut order: Vec<usize> = (0..tiles.len())
        .filter(|&i| i != main && shown[i])
        .collect();
    order.sort_by_key(|&i| (rank(i), i));
    order
}

/// Which of the tiles `eligible` for `slots` places are shown: all if they fit, else the active
/// speakers first and then join order.
fn visible(
    tiles: &[Tile],
    speakers: &[String],
    slots: usize,
    eligible: impl Fn(usize) -> bool,
) -> Vec<bool> {
    let candidates: Vec<usize> = (0..tiles.len()).filter(|&i| eligible(i)).collect();
    let mut shown = vec![false; tiles.len()];
    let mut picked = 0;
    let speaking = speakers.iter().filter_map(|s| {
        candidates
            .iter()
            .copied()
            .find(|&i| tiles[i].identity == *s)
    });
    for i in speaking.chain(candidates.iter().copied()) {
        if picked == slots {
            break;
        }
        if !shown[i] {
            shown[i] = true;
            picked += 1;
        }
    }
    shown
}

/// The largest 16:9 size inside `area` (even sizes, as I420 wants).
fn fit_16_9(area: Size) -> Size {
    let by_width = Size {
        width: area.width,
        height: area.width * 9 / 16,
    };
    let s = if by_width.height <= area.height {
        by_width
    } else {
        Size {
            width: area.height * 16 / 9,
            height: area.height,
        }
    };
    Size {
        width: s.width & !1,
        height: s.height & !1,
    }
}

/// Shrinks a cell by the gap on every side so neighbours never touch.
fn inset(r: Rect) -> Rect {
    if r.width <= 2 * GAP || r.height <= 2 * GAP {
        return r;
    }
    Rect {
        x: r.x + GAP,
        y: r.y + GAP,
        width: (r.width - 2 * GAP) & !1,
        height: (r.height - 2 * GAP) & !1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HD: Size = Size {
        width: 1280,
        height: 720,
    };

    fn cams(n: usize) -> Vec<Tile> {
        (0..n)
            .map(|i| Tile {
                identity: format!("p{i}"),
                screen_share: false,
            })
            .collect()
    }

    /// The `grid` layout's rects (nobody has spoken before).
    fn grid(canvas: Size, tiles: &[Tile], speakers: &[String]) -> Vec<Rect> {
        layout(canvas, tiles, speakers, Layout::Grid, None).rects
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn share(identity: &str) -> Tile {
        Tile {
            identity: identity.into(),
            screen_share: true,
        }
    }

    /// The index of the one largest rect.
    fn largest(rects: &[Rect]) -> usize {
        let (i, big) = rects
            .iter()
            .enumerate()
            .max_by_key(|(_, r)| r.area())
            .expect("some rects");
        assert_eq!(
            rects.iter().filter(|r| r.area() == big.area()).count(),
            1,
            "more than one largest in {rects:?}"
        );
        i
    }

    fn assert_sane(canvas: Size, rects: &[Rect]) {
        for (i, r) in rects.iter().enumerate() {
            assert!(
                r.x + r.width <= canvas.width && r.y + r.height <= canvas.height,
                "{r:?} leaves the canvas"
            );
            for other in &rects[i + 1..] {
                assert!(!r.overlaps(other), "{r:?} overlaps {other:?}");
            }
        }
    }

    #[test]
    fn gallery_grids_stay_inside_and_do_not_overlap() {
        for n in [1, 2, 3, 4, 5, 9, 16] {
            let rects = grid(HD, &cams(n), &[]);
            assert_eq!(rects.len(), n);
            assert!(
                rects.iter().all(|r| !r.is_hidden()),
                "{n} tiles: one hidden"
            );
            assert_sane(HD, &rects);
        }
    }

    #[test]
    fn gallery_shapes() {
        // One tile: the whole canvas (less the gap).
        assert_eq!(
            grid(HD, &cams(1), &[])[0],
            Rect {
                x: 4,
                y: 4,
                width: 1272,
                height: 712
            }
        );
        // Two: side by side, same row.
        let two = grid(HD, &cams(2), &[]);
        assert_eq!(two[0].y, two[1].y);
        assert!(two[0].x < two[1].x);
        // Four: 2×2, each a quarter.
        let four = grid(HD, &cams(4), &[]);
        assert_eq!(four[0].width, 632);
        assert_eq!(
            four[3],
            Rect {
                x: 644,
                y: 364,
                width: 632,
                height: 352
            }
        );
        // Nine: 3×3.
        let nine = grid(HD, &cams(9), &[]);
        assert_eq!(
            nine.iter()
                .map(|r| r.y)
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            3
        );
    }

    #[test]
    fn overflowing_gallery_shows_the_speaker() {
        let tiles = cams(20);
        let rects = grid(HD, &tiles, &["p19".to_string()]);
        assert!(!rects[19].is_hidden(), "the speaker is shown");
        assert_eq!(rects.iter().filter(|r| !r.is_hidden()).count(), MAX_GRID);
        assert_sane(HD, &rects);
    }

    #[test]
    fn screen_share_is_the_biggest_and_cameras_form_a_strip() {
        let mut tiles = cams(3);
        tiles.insert(
            1,
            Tile {
                identity: "p1".into(),
                screen_share: true,
            },
        );
        let rects = grid(HD, &tiles, &["p2".to_string()]);
        assert_sane(HD, &rects);
        let biggest = rects
            .iter()
            .enumerate()
            .max_by_key(|(_, r)| r.area())
            .map(|(i, _)| i);
        assert_eq!(biggest, Some(1));
        let strip: Vec<&Rect> = rects
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .map(|(_, r)| r)
            .collect();
        assert!(strip
            .iter()
            .all(|r| r.x == rects[1].x + rects[1].width + 8 && r.width == rects[0].width));
        // The active speaker (p2, index 3) heads the strip.
        assert!(rects[3].y < rects[0].y && rects[3].y < rects[2].y);
    }

    #[test]
    fn screen_share_alone_fills_the_canvas() {
        let rects = grid(
            HD,
            &[Tile {
                identity: "a".into(),
                screen_share: true,
            }],
            &[],
        );
        assert_eq!(
            rects[0],
            Rect {
                x: 4,
                y: 4,
                width: 1272,
                height: 712
            }
        );
    }

    #[test]
    fn too_many_for_the_strip_are_hidden() {
        let mut tiles = vec![Tile {
            identity: "s".into(),
            screen_share: true,
        }];
        tiles.extend(cams(12));
        let rects = grid(HD, &tiles, &[]);
        assert_sane(HD, &rects);
        assert_eq!(
            rects.iter().filter(|r| !r.is_hidden()).count(),
            1 + 5,
            "720 / 144 = 5 strip places"
        );
    }

    #[test]
    fn empty_and_degenerate() {
        assert!(grid(HD, &[], &[]).is_empty());
        assert_eq!(
            grid(
                Size {
                    width: 0,
                    height: 0
                },
                &cams(2),
                &[]
            ),
            vec![Rect::HIDDEN; 2]
        );
    }

    #[test]
    fn layout_names_are_livekits() {
        for (name, want) in [
            ("grid", Layout::Grid),
            ("speaker", Layout::Speaker),
            ("single-speaker", Layout::SingleSpeaker),
            ("grid-light", Layout::Grid),
            ("speaker-dark", Layout::Speaker),
            ("single-speaker-light", Layout::SingleSpeaker),
        ] {
            assert_eq!(name.parse::<Layout>(), Ok(want), "{name}");
        }
        for kind in [Layout::Grid, Layout::Speaker, Layout::SingleSpeaker] {
            assert_eq!(kind.name().parse::<Layout>(), Ok(kind));
        }
        for bad in ["", "Speaker", "spotlight", "-light", "grid-light-dark"] {
            assert_eq!(
                bad.parse::<Layout>(),
                Err(UnknownLayout(bad.to_string())),
                "{bad:?}"
            );
        }
        assert_eq!(Layout::default(), Layout::Grid);
    }

    #[test]
    fn speaker_layout_shapes() {
        let placed = layout(HD, &cams(3), &names(&["p1"]), Layout::Speaker, None);
        let rects = &placed.rects;
        assert_sane(HD, rects);
        assert_eq!(placed.main_speaker.as_deref(), Some("p1"));
        // The speaker: three quarters of the width, the full height (less the gap).
        assert_eq!(
            rects[1],
            Rect {
                x: 4,
                y: 4,
                width: 952,
                height: 712
            }
        );
        // The others: a column of 16:9 tiles a quarter of the width wide, centred, join order.
        for (i, y) in [(0, 184), (2, 364)] {
            assert_eq!(
                rects[i],
                Rect {
                    x: 964,
                    y,
                    width: 312,
                    height: 172
                },
                "tile {i}"
            );
        }
        assert_eq!(largest(rects), 1);
    }

    #[test]
    fn speaker_layout_without_speech_enlarges_the_first_to_join() {
        let placed = layout(HD, &cams(4), &[], Layout::Speaker, None);
        assert_eq!(placed.main_speaker.as_deref(), Some("p0"));
        assert_eq!(largest(&placed.rects), 0);
        assert!(placed.rects.iter().all(|r| !r.is_hidden()));
        assert_sane(HD, &placed.rects);
    }

    #[test]
    fn main_speaker_is_sticky() {
        let tiles = cams(3);
        let step = |speakers: &[&str], previous: Option<&str>| {
            let placed = layout(HD, &tiles, &names(speakers), Layout::Speaker, previous);
            assert_eq!(
                largest(&placed.rects),
                tiles
                    .iter()
                    .position(|t| Some(&t.identity) == placed.main_speaker.as_ref())
                    .unwrap(),
                "the main speaker is the large one"
            );
            placed.main_speaker
        };
        // p1 speaks and becomes the main speaker.
        let main = step(&["p1"], None);
        assert_eq!(main.as_deref(), Some("p1"));
        // p2 is louder for a moment, but p1 still speaks: p1 stays.
        let main = step(&["p2", "p1"], main.as_deref());
        assert_eq!(main.as_deref(), Some("p1"));
        // Silence: p1 stays.
        let main = step(&[], main.as_deref());
        assert_eq!(main.as_deref(), Some("p1"));
        // Only p2 speaks now: p2 takes over.
        let main = step(&["p2"], main.as_deref());
        assert_eq!(main.as_deref(), Some("p2"));
        // Someone without a camera speaks: p2 stays.
        let main = step(&["audio-only"], main.as_deref());
        assert_eq!(main.as_deref(), Some("p2"));
        // The main speaker's camera is gone: the loudest with a camera, or else the first to join.
        assert_eq!(
            step(&["audio-only", "p0"], Some("gone")).as_deref(),
            Some("p0")
        );
        assert_eq!(step(&["audio-only"], Some("gone")).as_deref(), Some("p0"));
    }

    #[test]
    fn speaker_layout_alone_fills_the_canvas() {
        let placed = layout(HD, &cams(1), &[], Layout::Speaker, None);
        assert_eq!(
            placed.rects[0],
            Rect {
                x: 4,
                y: 4,
                width: 1272,
                height: 712
            }
        );
    }

    #[test]
    fn speaker_strip_overflow_shows_speakers_first() {
        let tiles = cams(8);
        let placed = layout(HD, &tiles, &names(&["p7", "p6"]), Layout::Speaker, None);
        let rects = &placed.rects;
        assert_sane(HD, rects);
        assert_eq!(placed.main_speaker.as_deref(), Some("p7"));
        assert_eq!(largest(rects), 7);
        // 720 / 180 = 4 places in the strip: p6 (speaking) first, then p0, p1, p2.
        let shown: Vec<usize> = (0..8).filter(|&i| !rects[i].is_hidden()).collect();
        assert_eq!(shown, [0, 1, 2, 6, 7]);
        assert!(rects[6].y < rects[0].y);
    }

    #[test]
    fn speaker_strip_goes_under_a_portrait_canvas() {
        let portrait = Size {
            width: 720,
            height: 1280,
        };
        let placed = layout(portrait, &cams(3), &names(&["p2"]), Layout::Speaker, None);
        let rects = &placed.rects;
        assert_sane(portrait, rects);
        assert_eq!(largest(rects), 2);
        // Tiles a quarter of the width (180×100) in a row under the speaker, centred.
        let main = rects[2];
        assert_eq!(
            main,
            Rect {
                x: 4,
                y: 4,
                width: 712,
                height: 1172
            }
        );
        for i in [0, 1] {
            assert_eq!(rects[i].y, main.y + main.height + 2 * GAP);
            assert_eq!((rects[i].width, rects[i].height), (172, 92));
        }
        assert!(rects[0].x < rects[1].x);
        assert_eq!(rects[0].x - GAP, 720 - (rects[1].x + rects[1].width + GAP));
    }

    #[test]
    fn single_speaker_shows_only_the_main_speaker() {
        let full = Rect {
            x: 4,
            y: 4,
            width: 1272,
            height: 712,
        };
        let placed = layout(
            HD,
            &cams(4),
            &names(&["p3"]),
            Layout::SingleSpeaker,
            Some("p2"),
        );
        assert_eq!(placed.main_speaker.as_deref(), Some("p3"));
        let mut want = vec![Rect::HIDDEN; 4];
        want[3] = full;
        assert_eq!(placed.rects, want);
    }

    #[test]
    fn a_screen_share_is_the_main_picture_in_every_layout() {
        let mut tiles = cams(3);
        tiles.insert(1, share("p1"));
        let speaking = names(&["p2"]);
        let grid = layout(HD, &tiles, &speaking, Layout::Grid, None);
        let speaker = layout(HD, &tiles, &speaking, Layout::Speaker, None);
        // speaker: the same presentation as grid, the share large, the cameras in a strip.
        assert_eq!(speaker, grid);
        assert_eq!(largest(&speaker.rects), 1);
        assert_eq!(speaker.rects[0].width, 1280 / 5 - 2 * GAP);
        // The main speaker is still followed (for when the share ends), and is a camera.
        assert_eq!(speaker.main_speaker.as_deref(), Some("p2"));
        // single-speaker: the share alone.
        let single = layout(HD, &tiles, &speaking, Layout::SingleSpeaker, None);
        assert_eq!(largest(&single.rects), 1);
        assert_eq!(single.rects[1].width, 1272);
        assert_eq!(single.rects.iter().filter(|r| r.is_hidden()).count(), 3);
    }

    #[test]
    fn every_layout_stays_sane() {
        for kind in [Layout::Grid, Layout::Speaker, Layout::SingleSpeaker] {
            for n in [0, 1, 2, 3, 5, 9, 17] {
                for with_share in [false, true] {
                    let mut tiles = cams(n);
                    if with_share {
                        tiles.push(share("s"));
                    }
                    let placed = layout(HD, &tiles, &names(&["p1", "x"]), kind, Some("p4"));
                    assert_eq!(placed.rects.len(), tiles.len());
                    assert_sane(HD, &placed.rects);
                    if !tiles.is_empty() {
                        assert!(
                            placed.rects.iter().any(|r| !r.is_hidden()),
                            "{kind} {n} {with_share}: nothing shown"
                        );
                    }
                }
            }
        }
        assert_eq!(
            layout(HD, &[], &[], Layout::Speaker, Some("p0")),
            Placement {
                rects: vec![],
                main_speaker: None
            }
        );
    }
}
