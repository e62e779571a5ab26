//go:build oauth2

// Built with -tags oauth2 when golang.org/x/oauth2/google is installed: the token sources Go
// programs get from google.ComputeTokenSource and from Application Default Credentials with no
// credential file.
package main

import (
	"context"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

func tokenOf(token *oauth2.Token, err error) call {
	if err != nil {
		return record(nil, err)
	}
	return call{Value: map[string]interface{}{
		"accessToken": token.AccessToken,
		"tokenType":   token.Type(),
		"valid":       token.Valid(),
	}}
}

func init() {
	extras = append(extras, func(out map[string]call) {
		out["computeTokenSource"] = tokenOf(google.ComputeTokenSource("").Token())
		scope := "https://www.googleapis.com/auth/cloud-platform"
		creds, err := google.FindDefaultCredentials(context.Background(), scope)
		if err != nil {
			out["defaultCredentials"] = record(nil, err)
			return
		}
		out["defaultCredentialsProjectID"] = call{Value: creds.ProjectID}
		out["defaultCredentials"] = tokenOf(creds.TokenSource.Token())
	})
}
