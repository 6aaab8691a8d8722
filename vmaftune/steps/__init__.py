"""The steps a video goes through, in the order of the data flow: probe → shots →
(cuts) → trial (encode + score) → decide → verify → join / hls → sidecar. Each is a
function over typed, immutable values; none of them knows which run called it."""
