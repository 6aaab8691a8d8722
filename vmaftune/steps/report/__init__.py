"""The report: a per-shot sidecar (`OUT.shots.json`) or a ladder (`ladder.json`) drawn as
one self-contained HTML page (`page`) or as PNG files, from the same figures (`plots`).
`document` reads and recognises the input."""
