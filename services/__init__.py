"""The four services of the mesh and the `crm` command that runs them."""
