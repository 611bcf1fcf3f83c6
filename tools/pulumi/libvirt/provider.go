// Package libvirt describes the bridged provider: Terraform's libvirt provider under
// the Pulumi package name "libvirt", with the tokens of the pulumi_libvirt Python SDK.
package libvirt

import (
	tflibvirt "github.com/dmacvicar/terraform-provider-libvirt/libvirt"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
)

// Version is the provider's version, set by the build (-ldflags -X): the version of the
// Python SDK it serves, since the SDK asks the engine for exactly that plugin version.
var Version string

// Provider maps every Terraform resource "libvirt_<name>" to
// "libvirt:index/<camelName>:<PascalName>" and data source to ".../get<PascalName>",
// except where the SDK spells a name differently.
func Provider() tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:           shimv2.NewProvider(tflibvirt.Provider()),
		Name:        "libvirt",
		DisplayName: "libvirt",
		Version:     Version,
		Description: "libvirt storage pools, volumes, networks and domains (Terraform provider dmacvicar/libvirt).",
		Keywords:    []string{"pulumi", "libvirt"},
		License:     "Apache-2.0",
		GitHubOrg:   "dmacvicar",
		Resources: map[string]*tfbridge.ResourceInfo{
			// Standard naming would give CloudinitDisk.
			"libvirt_cloudinit_disk": {Tok: "libvirt:index/cloudInitDisk:CloudInitDisk"},
		},
	}
	info.MustComputeTokens(tokens.SingleModule("libvirt_", "index", tokens.MakeStandard("libvirt")))
	info.SetAutonaming(255, "-")
	return info
}
