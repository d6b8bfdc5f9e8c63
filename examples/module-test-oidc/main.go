// Command module-test-oidc turns OIDC dynamic credentials for the tests of a private
// registry module on or off, for one provider chosen by flags, and prints the module's
// test configuration afterwards. The token and address come from TFE_TOKEN and
// TFE_ADDRESS (default https://app.terraform.io).
//
//	module-test-oidc -module private/my-org/vpc/aws -provider aws -role-arn ARN [-audience AUD]
//	module-test-oidc -module … -provider gcp -service-account-email EMAIL -workload-provider-name NAME
//	module-test-oidc -module … -provider azure -tenant-id ID -client-id ID -subscription-id ID
//	module-test-oidc -module … -provider vault -vault-url URL -role-name ROLE [-vault-namespace NS] [-auth-path PATH]
//	module-test-oidc -module … -disable
//	module-test-oidc -module …                 (show the current configuration)
//
// -token-ttl 15m also sets how long the test runs' tokens live, for the whole
// organization (the module's namespace), 5 to 30 minutes.
//
// The service never returns the OIDC configuration, so the output shows only whether
// OIDC is on and for which provider; the values given on the command line are not
// printed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/tfkit/tfc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "module-test-oidc:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "module-test-oidc:", err)
		os.Exit(1)
	}
}

// usageError is a problem with the command line.
type usageError struct{ error }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("module-test-oidc", flag.ContinueOnError)
	fs.SetOutput(stdout)
	module := fs.String("module", "", "REGISTRY/NAMESPACE/NAME/PROVIDER, for example private/my-org/vpc/aws (required)")
	provider := fs.String("provider", "", "OIDC provider to enable: aws, gcp, azure or vault")
	disable := fs.Bool("disable", false, "turn OIDC off")
	tokenTTL := fs.Duration("token-ttl", 0, "also set the organization's module test token TTL (5m to 30m)")
	audience := fs.String("audience", "", "audience of the OIDC token (default: the provider's)")
	roleARN := fs.String("role-arn", "", "aws: ARN of the IAM role to assume")
	saEmail := fs.String("service-account-email", "", "gcp: service account to impersonate")
	workloadProvider := fs.String("workload-provider-name", "", "gcp: full workload identity provider name")
	tenantID := fs.String("tenant-id", "", "azure: tenant ID")
	clientID := fs.String("client-id", "", "azure: application (client) ID")
	subscriptionID := fs.String("subscription-id", "", "azure: subscription ID")
	vaultURL := fs.String("vault-url", "", "vault: address of Vault")
	roleName := fs.String("role-name", "", "vault: JWT auth role")
	vaultNamespace := fs.String("vault-namespace", "", "vault: namespace (Vault Enterprise)")
	authPath := fs.String("auth-path", "", "vault: mount path of the JWT auth method (default jwt)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	addr, err := parseModule(*module)
	if err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 || *disable && *provider != "" {
		return usageError{errors.New("give either -provider with its flags, or -disable")}
	}
	if err := checkProviderFlags(fs, *provider); err != nil {
		return usageError{err}
	}

	var cfg tfc.OIDCConfiguration
	switch *provider {
	case "":
	case "aws":
		cfg = &tfc.AWSOIDCConfiguration{RoleARN: *roleARN, Audience: *audience}
	case "gcp":
		cfg = &tfc.GCPOIDCConfiguration{ServiceAccountEmail: *saEmail, WorkloadProviderName: *workloadProvider, Audience: *audience}
	case "azure":
		cfg = &tfc.AzureOIDCConfiguration{TenantID: *tenantID, ClientID: *clientID, SubscriptionID: *subscriptionID, Audience: *audience}
	case "vault":
		cfg = &tfc.VaultOIDCConfiguration{URL: *vaultURL, RoleName: *roleName, Namespace: *vaultNamespace, AuthPath: *authPath, Audience: *audience}
	default:
		return usageError{fmt.Errorf("-provider %q is not aws, gcp, azure or vault", *provider)}
	}

	client, err := tfc.NewClient(tfc.FromEnv(), tfc.WithUserAgent("module-test-oidc"))
	if err != nil {
		return err
	}
	var tc *tfc.TestConfiguration
	switch {
	case cfg != nil:
		tc, err = client.TestConfigurations.EnableOIDC(ctx, addr, cfg)
	case *disable:
		tc, err = client.TestConfigurations.DisableOIDC(ctx, addr)
	default:
		tc, err = client.TestConfigurations.Read(ctx, addr)
	}
	if err != nil {
		return err
	}
	state := "disabled"
	if tc.OIDCEnabled {
		state = "enabled (" + string(tc.OIDCProvider) + ")"
	}
	fmt.Fprintf(stdout, "%s: OIDC %s, updated %s\n", addr, state, tc.UpdatedAt.Format(time.RFC3339))

	if *tokenTTL != 0 {
		org, err := client.Organizations.UpdateModuleTestTokenTTL(ctx, addr.Namespace, *tokenTTL)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: module test tokens live %s\n", org.Name, org.ModuleTestTokenTTL)
	}
	return nil
}

// providerFlags names the provider each provider-specific flag belongs to; "" marks a
// flag that goes with any provider.
var providerFlags = map[string]string{
	"audience": "", "role-arn": "aws", "service-account-email": "gcp", "workload-provider-name": "gcp",
	"tenant-id": "azure", "client-id": "azure", "subscription-id": "azure",
	"vault-url": "vault", "role-name": "vault", "vault-namespace": "vault", "auth-path": "vault",
}

// checkProviderFlags refuses provider flags that would be ignored: given without
// -provider, or belonging to another provider than the one chosen.
func checkProviderFlags(fs *flag.FlagSet, provider string) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		owner, ok := providerFlags[f.Name]
		switch {
		case !ok || err != nil:
		case provider == "":
			err = fmt.Errorf("-%s needs -provider", f.Name)
		case owner != "" && owner != provider:
			err = fmt.Errorf("-%s is a flag of -provider %s, not %s", f.Name, owner, provider)
		}
	})
	return err
}

// parseModule splits REGISTRY/NAMESPACE/NAME/PROVIDER.
func parseModule(s string) (tfc.RegistryModuleAddress, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 4 {
		return tfc.RegistryModuleAddress{}, errors.New("-module must be REGISTRY/NAMESPACE/NAME/PROVIDER, for example private/my-org/vpc/aws")
	}
	return tfc.RegistryModuleAddress{RegistryName: parts[0], Namespace: parts[1], Name: parts[2], Provider: parts[3]}, nil
}
