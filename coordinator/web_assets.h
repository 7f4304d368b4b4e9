// The dashboard's files (coordinator/web/ and the npm packages it uses),
// compiled into ps_coordinator by coordinator/web/embed.sh so that the
// binary serves them with nothing installed beside it.
#ifndef PS_COORDINATOR_WEB_ASSETS_H_
#define PS_COORDINATOR_WEB_ASSETS_H_

namespace ps::coordinator {

struct WebAsset {
  const char* path;  // the URL path it is served at, e.g. "/static/app.js"
  const char* content_type;
  const char* body;  // NUL-terminated text
};

extern const WebAsset kWebAssets[];
extern const int kNumWebAssets;

}  // namespace ps::coordinator

#endif  // PS_COORDINATOR_WEB_ASSETS_H_
