// Package shim hands the bridge the upstream provider's constructor. The constructor lives in the
// upstream's internal/ package, which Go lets only packages under the upstream's own import path
// import: so this package's module path is github.com/terraform-providers/terraform-provider-random/shim.
package shim

import (
	tfpf "github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/terraform-providers/terraform-provider-random/internal/provider"
)

// NewProvider is the upstream provider, as the Terraform CLI would serve it.
func NewProvider() tfpf.Provider { return provider.New() }
