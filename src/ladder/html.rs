//! The ladder as a page: the SVG of [`ladder_svg`] with a script (`ladder.js`) that zooms and
//! pans the time axis and shows a clicked arrow's details. Everything is in the one file, so
//! it opens offline and can be mailed or attached to a lab report.

use super::{ladder_svg, Ladder};
use crate::plot::escape;

/// The page's script: zoom, pan, details. Plain JavaScript, no library.
const SCRIPT: &str = include_str!("ladder.js");

/// The page's layout around the drawing: a header with the controls, the drawing filling the
/// window, the details of the clicked arrow below it.
const STYLE: &str = "
html, body { margin: 0; height: 100%; font-family: sans-serif; font-size: 13px; }
body { display: flex; flex-direction: column; }
header { padding: 6px 10px; border-bottom: 1px solid #ccc; }
header button { font-size: 13px; }
#view { flex: 1; min-height: 200px; overflow-x: auto; overflow-y: hidden; cursor: grab;
        touch-action: none; user-select: none; }
#view.dragging { cursor: grabbing; }
#details { height: 8.5em; margin: 0; padding: 6px 10px; border-top: 1px solid #ccc;
           overflow: auto; white-space: pre-wrap; font-size: 12px; background: #fafafa; }
";

/// The whole page for `ladder`, titled `title`.
pub fn ladder_html(ladder: &Ladder, title: &str) -> String {
    let svg = ladder_svg(ladder, title);
    // An SVG inline in HTML has no XML declaration.
    let svg = svg
        .split_once('\n')
        .filter(|(first, _)| first.starts_with("<?xml"))
        .map_or(svg.as_str(), |(_, rest)| rest);
    let title = escape(title);
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>{STYLE}</style>
<script>
// Any error in the page is recorded on the document, where a test (or a reader of the DOM)
// sees it, besides the browser's console.
window.addEventListener('error', function (event) {{
  var errors = document.documentElement.dataset.errors || '';
  document.documentElement.dataset.errors = errors + event.message + '\n';
}});
</script>
</head>
<body>
<header>
<button id="zoom-in" title="zoom in (+)">+</button>
<button id="zoom-out" title="zoom out (-)">&minus;</button>
<button id="fit" title="the whole window of time (0)">fit</button>
<span>Wheel or +/&minus; zooms the time axis, dragging or the arrow keys pan it; click an arrow
for its details. <span id="arrow-count">0</span> arrows.</span>
</header>
<main id="view">
{svg}</main>
<pre id="details">Click an arrow (or a timer's dot) for its details: the segment, why it was sent, when it left and arrived, and its frame number in each host's capture (ferry sim --pcap of the same run).</pre>
<script>
{SCRIPT}</script>
</body>
</html>
"#
    )
}
