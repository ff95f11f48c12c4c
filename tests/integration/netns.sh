# netns.sh - network namespaces for integration tests: one namespace per
# program (or per group of them), all on one bridge, links cut and healed
# with iptables.  Source it after lib.sh (it needs root, ip and iptables).
#
# Each namespace gets one interface, eth0, with 10.77.0.N/24, on a bridge
# that lives in a namespace of its own ("switch"), so the host's network
# is never touched and two test runs never see each other.  Names carry a
# prefix unique to this run (NS_PREFIX, "gfs9-<pid>-"); every namespace
# made here is removed on exit, failure or not (a lib.sh cleanup hook,
# after the processes stopped).
#
#   ns_setup                  the switch; call first
#   ns_add NAME               a namespace on the switch
#   ns_ip NAME                its address
#   ns_exec NAME CMD...       run CMD inside NAME
#   ns_start NAME LOG CMD...  start CMD inside NAME in the background,
#                             output to LOG; its pid in NS_PID (in PIDS)
#   ns_cut A B                drop every packet between A and B, both ways
#   ns_partition "A B" "C D"  ns_cut every pair across the two groups
#   ns_heal_all               undo every cut
#
# A cut drops packets (a dead link, not a refusal): connections hang
# until their timeouts, as on a real network.

: "${T:?source lib.sh first}"
NS_PREFIX="gfs9-$$-"
NS_NAMES=()          # namespaces made, switch first
declare -A NS_IPS=()
NS_NEXT=1

ns_cleanup() {
	local n
	for n in "${NS_NAMES[@]}"; do ip netns del "$NS_PREFIX$n" 2>/dev/null; done
	NS_NAMES=()
}
CLEANUP_HOOKS+=(ns_cleanup)

ns_setup() {
	command -v iptables >/dev/null || fail "iptables is missing (make deps)"
	ip netns add "${NS_PREFIX}switch" || fail "cannot make network namespaces"
	NS_NAMES+=(switch)
	ip -n "${NS_PREFIX}switch" link add br0 type bridge &&
		ip -n "${NS_PREFIX}switch" link set br0 up ||
		fail "cannot make the bridge"
}

ns_add() {
	local name=$1 ns=$NS_PREFIX$1 sw=${NS_PREFIX}switch n=$NS_NEXT
	[ -z "${NS_IPS[$name]:-}" ] || fail "namespace $name exists"
	[ $n -lt 250 ] || fail "too many namespaces"
	NS_NEXT=$((n + 1))
	ip netns add "$ns" || fail "ip netns add $ns"
	NS_NAMES+=("$name")
	ip -n "$sw" link add "v$n" type veth peer name eth0 netns "$ns" &&
		ip -n "$sw" link set "v$n" master br0 &&
		ip -n "$sw" link set "v$n" up &&
		ip -n "$ns" addr add "10.77.0.$n/24" dev eth0 &&
		ip -n "$ns" link set eth0 up &&
		ip -n "$ns" link set lo up || fail "cannot wire namespace $name"
	NS_IPS[$name]=10.77.0.$n
}

ns_ip() { echo "${NS_IPS[$1]:?no namespace $1}"; }

ns_exec() {
	local name=$1
	shift
	ip netns exec "$NS_PREFIX$name" "$@"
}

ns_start() {
	local name=$1 out=$2
	shift 2
	ip netns exec "$NS_PREFIX$name" "$@" >>"$out" 2>&1 &
	NS_PID=$!
	PIDS+=("$NS_PID")
}

# ns_drop NS PEER...: in NS, drop what comes from or goes to the peers,
# all rules in one iptables-restore (so a cut is as quick as it can be).
ns_drop() {
	local ns=$1 p rules="*filter"$'\n'
	shift
	for p in "$@"; do
		rules+="-I INPUT -s $(ns_ip "$p") -j DROP"$'\n'
		rules+="-I OUTPUT -d $(ns_ip "$p") -j DROP"$'\n'
	done
	ns_exec "$ns" iptables-restore --noflush <<<"${rules}COMMIT" ||
		fail "iptables in $ns"
}

ns_cut() {
	ns_drop "$1" "$2"
	ns_drop "$2" "$1"
}

# ns_partition "A B" "C D": one namespace after the other, in the order
# given (put the ones to isolate first: a cut made slowly is a sequence
# of partial partitions).
ns_partition() {
	local a b
	for a in $1; do ns_drop "$a" $2; done
	for b in $2; do ns_drop "$b" $1; done
}

ns_heal_all() {
	local n
	for n in "${NS_NAMES[@]}"; do
		[ "$n" = switch ] && continue
		ns_exec "$n" iptables -F || fail "iptables flush in $n"
	done
}
