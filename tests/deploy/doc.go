// Package deploy holds the tests of the deployment files at the root of the
// repository (docker-compose.yml, Dockerfile, deploy/): there is no Docker
// engine where the tests run, so they check by parsing that the files wire
// the services together as CONTRACT.md says. It has no runtime code.
package deploy
