// Package shim hands the bridge the upstream provider's SDKv2 half. The constructor lives in the upstream's
// internal/ package, which Go lets only packages under the upstream's own import path import: so this package's
// module path is github.com/terraform-providers/terraform-provider-docker/shim (the path the upstream's go.mod
// declares; the Go module proxy serves it as github.com/kreuzwerker/terraform-provider-docker).
package shim

import (
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"
	"github.com/terraform-providers/terraform-provider-docker/internal/provider"
)

// NewProvider is the upstream's SDKv2 provider; `version` is what it reports in its user agent.
func NewProvider(version string) *schema.Provider { return provider.New(version)() }
