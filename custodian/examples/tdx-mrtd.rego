# Release the key only to an Intel TDX trust domain with one exact MRTD (the TD's initial
# contents) whose platform TCB Intel rates up to date.
#
# MRTD is 48 bytes (96 hex characters), e.g. from the TD's build measurement tooling.
package cloister.release

import rego.v1

pinned_mr_td := "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"

default allow := false

allow if {
	input.platform == "tdx"
	input.claims.platform_claims.tdx.mr_td == pinned_mr_td
	input.claims.tcb_status == "up_to_date"
	input.claims.debug == false
}

deny contains sprintf("TCB status is %s, up_to_date required", [input.claims.tcb_status]) if {
	input.claims.tcb_status != "up_to_date"
}
