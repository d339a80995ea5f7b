#pragma once
// Thumbnails for the HTML run report (report/report.h): a small JPEG of an image, or of a
// video's poster frame, made inside the media module (src/media/thumbnail.cc) and reached
// from the executable through the module table (media/module.h, make_thumbnail).
#include <string>

namespace comfyrun::media {

struct Thumbnail {
  std::string jpeg;           ///< the JPEG file's bytes
  int width = 0, height = 0;  ///< of the thumbnail
  int source_width = 0, source_height = 0;
  bool video = false;            ///< the file has more than one frame (a video)
  double duration_seconds = -1;  ///< videos: from the container, -1 when unknown
};

/// Decodes the picture of an image, or a video's poster frame (the frame at 10% of its
/// duration, at most 1 s in, so that a fade from black does not give a black poster), and
/// scales it to at most `max_width` pixels wide (never up), keeping its aspect. False with
/// *err ("not a readable media file (...)") when nothing decodes. Never throws.
bool MakeThumbnail(const std::string& path, int max_width, Thumbnail* out, std::string* err);

}  // namespace comfyrun::media
