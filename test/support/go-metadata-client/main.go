// Command go-metadata-client is a Go program as a pod runs it: it asks the metadata server
// through cloud.google.com/go/compute/metadata, found by GCE_METADATA_HOST, and prints one JSON
// line with each call's answer or error. test/metadata/go-client.test.ts builds and runs it
// (GOPATH mode, Debian's packages under /usr/share/gocode).
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"cloud.google.com/go/compute/metadata"
)

// call is one library call's outcome: its value, or its error's type and text.
type call struct {
	Value interface{} `json:"value,omitempty"`
	Error string      `json:"error,omitempty"`
}

func record(value interface{}, err error) call {
	if err != nil {
		return call{Error: fmt.Sprintf("%T: %v", err, err)}
	}
	return call{Value: value}
}

// extras are the calls of optional libraries, added by files built with their tag (oauth2.go).
var extras []func(out map[string]call)

func main() {
	out := map[string]call{}
	out["onGCE"] = call{Value: metadata.OnGCE()}
	out["projectID"] = record(metadata.ProjectID())
	out["numericProjectID"] = record(metadata.NumericProjectID())
	out["email"] = record(metadata.Email("default"))
	out["scopes"] = record(metadata.Scopes("default"))
	out["token"] = record(metadata.Get("instance/service-accounts/default/token"))
	if audience := os.Getenv("ID_TOKEN_AUDIENCE"); audience != "" {
		out["identity"] = record(metadata.Get("instance/service-accounts/default/identity?audience=" + audience + "&format=full"))
	}
	out["unknownAccount"] = record(metadata.Email("nobody@example.iam.gserviceaccount.com"))
	for _, extra := range extras {
		extra(out)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
