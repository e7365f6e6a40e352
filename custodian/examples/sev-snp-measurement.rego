# Release the key only to an AMD SEV-SNP guest with one exact launch MEASUREMENT, on a platform
# whose reported TCB is at least the given SNP firmware and microcode levels.
#
# MEASUREMENT is the 48-byte launch digest (96 hex characters), e.g. from `snp-digest` or
# `sev-snp-measure` over the guest's firmware, kernel, initrd and command line.
package cloister.release

import rego.v1

pinned_measurement := "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"

min_snp_fw := 22

min_microcode := 213

default allow := false

allow if {
	input.platform == "sev-snp"
	input.claims.workload_measurement == pinned_measurement
	input.claims.debug == false
	tcb.snp >= min_snp_fw
	tcb.microcode >= min_microcode
}

tcb := input.claims.platform_claims["sev-snp"].reported_tcb

deny contains sprintf("reported SNP firmware %d is below %d", [tcb.snp, min_snp_fw]) if tcb.snp < min_snp_fw

deny contains sprintf("reported microcode %d is below %d", [tcb.microcode, min_microcode]) if tcb.microcode < min_microcode
