// Command pulumi-resource-random is the random provider plugin the Pulumi engine starts.
package main

import (
	"context"
	_ "embed"

	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"

	"engarde.local/toolchain/random/provider"
)

//go:embed schema.json
var schema []byte

//go:embed bridge-metadata.json
var metadata []byte

func main() {
	pf.Main(context.Background(), "random", provider.Info(metadata),
		pf.ProviderMetadata{PackageSchema: schema, BridgeMetadata: metadata})
}
