package policy

// Reason is the stable code a failed or undecided requirement carries in a
// verdict. The codes are part of trustctl's public contract: pipelines
// branch on them, so a code is never renamed or reused for another cause.
type Reason string

// The reason codes. Every code here is listed in Reasons with its meaning.
const (
	// ReasonUnsigned: no evidence of the required kind names these bytes.
	ReasonUnsigned Reason = "UNSIGNED"
	// ReasonUntrustedSigner: evidence exists, but from a signer, key chain
	// or TUF role the requirement does not accept.
	ReasonUntrustedSigner Reason = "UNTRUSTED_SIGNER"
	// ReasonThresholdNotMet: fewer distinct signers or attestations than
	// the requirement's k or min.
	ReasonThresholdNotMet Reason = "THRESHOLD_NOT_MET"
	// ReasonConditionFailed: attestations exist from accepted signers, but
	// their indexed fields (builder id, source repository, …) do not match.
	ReasonConditionFailed Reason = "CONDITION_FAILED"
	// ReasonRevoked: the artifact, or a key that vouched for it, is revoked.
	ReasonRevoked Reason = "REVOKED"
	// ReasonExpired: a token is past its expiry.
	ReasonExpired Reason = "EXPIRED"
	// ReasonStaleMetadata: TUF metadata is past its expiry, the revocation
	// list is older than the policy allows, or a token was issued longer
	// ago than the policy allows.
	ReasonStaleMetadata Reason = "STALE_METADATA"
	// ReasonDigestMismatch: bytes do not hash to the digest that was
	// claimed for them (a registry layer, or a token's subject).
	ReasonDigestMismatch Reason = "DIGEST_MISMATCH"
	// ReasonReputationBelow: score or vote count under the threshold.
	ReasonReputationBelow Reason = "REPUTATION_BELOW"
	// ReasonTokenInvalid: a token is malformed, or its signature does not
	// verify with a trusted token key.
	ReasonTokenInvalid Reason = "TOKEN_INVALID"
	// ReasonNoToken: no token was found beside the bytes.
	ReasonNoToken Reason = "NO_TOKEN"
	// ReasonPolicyMismatch: a token was issued for another policy (name or
	// content digest differ).
	ReasonPolicyMismatch Reason = "POLICY_MISMATCH"
	// ReasonNameMismatch: the evidence does not bind the name being
	// verified (the tag or file name asked for) to these bytes: a TUF
	// target or manifest line names them otherwise, the name is bound to
	// other bytes, or a token was issued for another name.
	ReasonNameMismatch Reason = "NAME_MISMATCH"
	// ReasonEvidenceUnavailable: the evidence could not be consulted
	// (offline, server unreachable, source not configured); the
	// requirement is undecided, not failed.
	ReasonEvidenceUnavailable Reason = "EVIDENCE_UNAVAILABLE"
	// ReasonOffline: the requirement needs evidence only trustd holds, and
	// the verification is offline by choice, so it counts as not met.
	ReasonOffline Reason = "OFFLINE"
	// ReasonChildrenFailed: an all/any combination did not hold; its
	// children carry the reasons.
	ReasonChildrenFailed Reason = "REQUIREMENTS_NOT_MET"
)

// Reasons lists every reason code with its meaning, in the order of the
// documentation (trustctl policy reasons prints it).
var Reasons = []struct {
	Code    Reason `json:"code"`
	Meaning string `json:"meaning"`
}{
	{ReasonUnsigned, "no evidence of the required kind names these bytes"},
	{ReasonUntrustedSigner, "evidence exists, but from a signer, key chain or TUF role the requirement does not accept"},
	{ReasonThresholdNotMet, "fewer distinct signers or attestations than required"},
	{ReasonConditionFailed, "attestations from accepted signers exist, but their indexed fields do not match the conditions"},
	{ReasonRevoked, "the artifact, or a key that vouched for it, is revoked"},
	{ReasonExpired, "a token is past its expiry"},
	{ReasonStaleMetadata, "TUF metadata expired, the revocation list is too old, or a token is older than allowed"},
	{ReasonDigestMismatch, "bytes do not hash to the digest claimed for them (registry layer or token subject)"},
	{ReasonReputationBelow, "score or vote count under the threshold"},
	{ReasonTokenInvalid, "a token is malformed or not signed by a trusted token key"},
	{ReasonNoToken, "no token was found beside the bytes"},
	{ReasonPolicyMismatch, "a token was issued for another policy (name or content digest differ)"},
	{ReasonNameMismatch, "the evidence does not bind the name being verified (tag or file name) to these bytes, or a token names another"},
	{ReasonEvidenceUnavailable, "the evidence could not be consulted (offline, unreachable, not configured): undecided"},
	{ReasonOffline, "the requirement needs evidence only trustd holds; offline verification counts it as not met"},
	{ReasonChildrenFailed, "an all/any combination did not hold; see its children"},
}
