/* What vmaf_registry.c takes from FFmpeg's config.h, for the fuzz harnesses. */
#define FFMPEG_DATADIR "/nonexistent"
