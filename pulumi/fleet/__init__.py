"""The data center's VM fleet, declared for Pulumi.

- spec.py        the fleet specification (YAML per stack) and its validation
- placement.py   which hypervisor runs which VM (feeds, rooms, capacity)
- addressing.py  stable addresses from each network's prefix
- inventory.py   the Ansible inventory of what is declared
- libvirt.py     the only module that knows pulumi-libvirt
- components.py  ComponentResources: storage pool, tenant network, virtual machine
- program.py     ties them together (pulumi/__main__.py stays thin)
"""
