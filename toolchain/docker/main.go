// Command pulumi-resource-docker is the docker provider plugin the Pulumi engine starts.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"

	"engarde.local/toolchain/docker/provider"
)

//go:embed schema.json
var schema []byte

//go:embed bridge-metadata.json
var metadata []byte

func main() { tfbridge.Main("docker", provider.Version, provider.Info(metadata), schema) }
