// Command pulumi-tfgen-random writes the Pulumi schema and bridge metadata the plugin embeds.
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"

	"engarde.local/toolchain/random/provider"
)

func main() { tfgen.Main("random", provider.Info(nil)) }
