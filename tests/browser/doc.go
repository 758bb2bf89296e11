// Package browser tests the web dashboard in headless Chromium (Debian's
// chromium package, driven by chromedp) against the JSON endpoints it reads,
// on cdc-local's whole system. Screenshots of each panel are written to
// BROWSER_ARTIFACTS (default tests/browser/artifacts).
package browser
