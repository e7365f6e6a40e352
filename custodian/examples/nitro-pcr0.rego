# Release the key only to a production (non-debug) AWS Nitro enclave running one exact image.
#
# PCR0 comes from `cloister eif describe --policy IMAGE.eif` (the "nitro".pcrs."0" value). The
# key's trust policy must pin the same PCR0: this rule narrows the trust policy, never widens it.
package cloister.release

import rego.v1

pinned_pcr0 := "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"

default allow := false

allow if {
	input.platform == "nitro"
	input.claims.workload_measurement == pinned_pcr0
	input.claims.debug == false
}

deny contains "debug-mode enclaves never receive keys" if input.claims.debug == true

deny contains sprintf("PCR0 %s is not the pinned image", [input.claims.workload_measurement]) if {
	input.platform == "nitro"
	input.claims.workload_measurement != pinned_pcr0
}
