// pulumi-tfgen-libvirt writes the provider's Pulumi schema (used only by the build:
// `pulumi-tfgen-libvirt schema --out DIR`, then embedded in pulumi-resource-libvirt).
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"

	libvirt "cite-souveraine.local/tools/pulumi/libvirt"
)

func main() { tfgen.Main("libvirt", libvirt.Version, libvirt.Provider()) }
