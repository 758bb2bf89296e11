// Package monitoring tests what operators see of the services: the alert
// rules (deploy/k8s/base/prometheusrule.yaml, with promtool) and the
// Grafana dashboards (deploy/grafana/dashboards), both against the metrics
// the three services really export: the tests run them in-process on the
// test stack (kfake, dynalite, gofakes3), scrape their /metrics and use
// what they find, so that a renamed metric or label fails them.
package monitoring
