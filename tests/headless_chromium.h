// Debian's chromium, headless, for tests that read what a page's scripts
// built (--dump-dom) or keep a screenshot of it.
#ifndef PS_TESTS_HEADLESS_CHROMIUM_H_
#define PS_TESTS_HEADLESS_CHROMIUM_H_

#include <string>
#include <vector>

namespace ps::testing {

inline constexpr char kChromium[] = "/usr/bin/chromium";

// Whether kChromium can be run (deploy/bootstrap.sh installs it).
bool ChromiumInstalled();

// Runs Chromium headless on `url` with `extra` flags (such as --dump-dom,
// or --screenshot=FILE), in a fresh profile under `dir`, and returns its
// stdout. The page's fetches and first refresh finish before it dumps
// (a virtual time budget of 5 s). A Chromium that does not end within 90 s
// fails the test.
std::string RunChromium(const std::string& dir, const std::string& url,
                        const std::vector<std::string>& extra);

}  // namespace ps::testing

#endif  // PS_TESTS_HEADLESS_CHROMIUM_H_
