// Command pulumi-tfgen-docker writes the Pulumi schema and bridge metadata the plugin embeds.
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"

	"engarde.local/toolchain/docker/provider"
)

func main() { tfgen.Main("docker", provider.Version, provider.Info(nil)) }
