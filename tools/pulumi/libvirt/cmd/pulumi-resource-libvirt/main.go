// pulumi-resource-libvirt is the resource provider plugin the Pulumi engine runs.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"

	libvirt "cite-souveraine.local/tools/pulumi/libvirt"
)

// schema.json is not in the tree: the build generates it with pulumi-tfgen-libvirt
// under .cache/pulumi/gen and maps it here with `go build -overlay`.
//
//go:embed schema.json
var schema []byte

func main() { tfbridge.Main("libvirt", libvirt.Version, libvirt.Provider(), schema) }
