// Package provider maps the upstream docker provider onto the tokens and names of the pulumi-docker SDK the
// program uses: docker_<name> becomes docker:index/<name>:<Name>, except where pulumi-docker chose other names
// (docker_image is RemoteImage, docker_config ServiceConfig), and a container's `command` and
// `networks_advanced` keep their singular names. Only the upstream's SDKv2 provider is bridged, as pulumi-docker
// does: its plugin-framework half (docker_compose and a few data sources) is not in the SDK.
package provider

import (
	"context"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/terraform-providers/terraform-provider-docker/shim"
)

// Version is set at build time from toolchain/versions.toml.
var Version = "0.0.0-dev"

// Info is the bridge's description of the provider; metadata is what tfgen wrote beside the schema.
func Info(metadata []byte) tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:            shimv2.NewProvider(shim.NewProvider(Version)),
		Name:         "docker",
		Version:      Version,
		GitHubOrg:    "kreuzwerker",
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
		Config: map[string]*tfbridge.SchemaInfo{
			// Without DOCKER_HOST the provider talks to the local engine's socket.
			"host":          {Default: &tfbridge.DefaultInfo{EnvVars: []string{"DOCKER_HOST"}, ComputeDefault: localEngine}},
			"registry_auth": {Name: "registryAuth", MaxItemsOne: tfbridge.False()},
		},
		Resources: map[string]*tfbridge.ResourceInfo{
			"docker_config": {Tok: "docker:index/serviceConfig:ServiceConfig"},
			"docker_container": {
				Tok: "docker:index/container:Container",
				// A container's name is unique on its engine: the old one must go before its replacement starts.
				DeleteBeforeReplace: true,
				Fields: map[string]*tfbridge.SchemaInfo{
					"command":           {Name: "command"},
					"networks_advanced": {Name: "networksAdvanced"},
				},
			},
			"docker_image": {
				Tok:    "docker:index/remoteImage:RemoteImage",
				Fields: map[string]*tfbridge.SchemaInfo{"name": {Name: "name"}},
			},
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"docker_image": {Tok: "docker:index/getRemoteImage:getRemoteImage"},
		},
	}
	info.MustComputeTokens(tokens.SingleModule("docker_", "index", tokens.MakeStandard("docker")))
	info.MustApplyAutoAliases()
	info.SetAutonaming(255, "-")
	return info
}

func localEngine(context.Context, tfbridge.ComputeDefaultOptions) (interface{}, error) {
	return "unix:///var/run/docker.sock", nil
}
