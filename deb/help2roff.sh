#!/bin/sh
# Writes istio-vm-agent(8) in roff from the program's own --help texts (the command and every subcommand), so the
# page never drifts from the CLI. Does what Debian's help2man does, without another build dependency.
set -eu
jar=$1
version=$2

# roff-safe: backslashes doubled, a leading dot or quote escaped so it is text, not a request.
escape() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }
help() { java -jar "$jar" "$@" --help; }

printf '.TH ISTIO-VM-AGENT 8 "" "istio-vm-agent %s" "System Administration"\n' "$version"
printf '.SH NAME\nistio-vm-agent \\- joins this host to an Istio service mesh\n'
printf '.SH SYNOPSIS\n.B istio-vm-agent\n.I COMMAND\n[\\fIOPTIONS\\fR]\n'
printf '.SH DESCRIPTION\n.nf\n'
help | escape
printf '.fi\n.SH COMMANDS\n'
for command in $(help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && /^  [a-z]/ {print $1}'); do
    printf '.SS %s\n.nf\n' "$command"
    help "$command" | escape
    printf '.fi\n'
    for sub in $(help "$command" | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && /^  [a-z]/ {print $1}'); do
        printf '.SS "%s %s"\n.nf\n' "$command" "$sub"
        help "$command" "$sub" | escape
        printf '.fi\n'
    done
done
printf '.SH FILES\n.TP\n/var/lib/istio/envoy/sidecar.env, /var/lib/istio/envoy/cluster.env\nconfiguration\n'
printf '.TP\n/etc/certs\nworkload identity (root-cert.pem, cert-chain.pem, key.pem)\n'
printf '.SH SEE ALSO\n/usr/share/doc/istio-vm-agent/README.md.gz, systemctl(1)\n'
