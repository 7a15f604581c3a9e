package audit

// Actions recorded by the care-team, account, second-factor and audit-log routes.
const (
	PatientAssigned       Action = "patient_assigned"
	PatientUnassigned     Action = "patient_unassigned"
	PatientListViewed     Action = "patient_list_viewed"
	DirectoryListed       Action = "patient_directory_listed"
	UserIDLookup          Action = "user_id_lookup"
	CareTeamViewed        Action = "care_team_viewed"
	ProfileViewed         Action = "profile_viewed"
	ProfileUpdated        Action = "profile_updated"
	PasswordChanged       Action = "password_changed"
	PasswordResetRequest  Action = "password_reset_requested"
	PasswordReset         Action = "password_reset"
	AccountsListed        Action = "accounts_listed"
	AccountUpdated        Action = "account_updated"
	AccountActivated      Action = "account_activated"
	AccountDeactivated    Action = "account_deactivated"
	TOTPEnrollStarted     Action = "totp_enroll_started"
	TOTPEnabled           Action = "totp_enabled"
	TOTPDisabled          Action = "totp_disabled"
	RecoveryCodesReissued Action = "recovery_codes_reissued"
	RecoveryCodeUsed      Action = "recovery_code_used"
	AuditLogViewed        Action = "audit_log_viewed"
)
