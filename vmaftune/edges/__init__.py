"""Where vmaftune touches the world: child processes, the FFmpeg it runs, FFmpeg's
progress stream, and files that appear only when complete."""
