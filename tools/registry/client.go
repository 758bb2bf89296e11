package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// RegistrarOptions configures Registrar.
type RegistrarOptions struct {
	// SchemaType is the schemas' type: "" or AVRO, JSON, PROTOBUF
	// (dbzenc.Format.SchemaType).
	SchemaType string
	// Username and Password, when set, are sent with basic auth.
	Username, Password string
}

// Registrar returns a register callback for the encoders
// (dbzenc.EncodeOptions.Register, pgshop.RenderOptions.Register) that
// registers through a registry's REST protocol, POST
// /subjects/{subject}/versions, as the converters' schema registry client
// does, and remembers each subject and schema's id so that a schema is
// sent once. baseURL is any registry's, this package's or a real one.
func Registrar(baseURL string, o RegistrarOptions) func(subject, schema string) (int32, error) {
	cl := &http.Client{Timeout: 10 * time.Second}
	var mu sync.Mutex
	ids := map[[2]string]int32{}
	return func(subject, schema string) (int32, error) {
		k := [2]string{subject, schema}
		mu.Lock()
		id, ok := ids[k]
		mu.Unlock()
		if ok {
			return id, nil
		}
		req := map[string]string{"schema": schema}
		if o.SchemaType != "" && o.SchemaType != "AVRO" {
			req["schemaType"] = o.SchemaType
		}
		body, _ := json.Marshal(req)
		hr, err := http.NewRequest(http.MethodPost, baseURL+"/subjects/"+url.PathEscape(subject)+"/versions", bytes.NewReader(body))
		if err != nil {
			return 0, fmt.Errorf("register %s: %w", subject, err)
		}
		hr.Header.Set("Content-Type", ContentType)
		if o.Username != "" {
			hr.SetBasicAuth(o.Username, o.Password)
		}
		resp, err := cl.Do(hr)
		if err != nil {
			return 0, fmt.Errorf("register %s: %w", subject, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		var r struct {
			ID int32 `json:"id"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &r) != nil || r.ID == 0 {
			return 0, fmt.Errorf("register %s: %s: %s", subject, resp.Status, bytes.TrimSpace(b))
		}
		mu.Lock()
		ids[k] = r.ID
		mu.Unlock()
		return r.ID, nil
	}
}
