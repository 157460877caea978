# Son of Grid Engine 8.1.9 from Debian: sge_qmaster and sge_execd started by pid (they daemonise and
# write their pid where SGE_*_PIDFILE says), plus the fixes a fresh Debian install needs (engines.md):
# host alias, a queue all.q with an smp parallel environment, min_uid/min_gid 0 (root submits here),
# a 1 s scheduler interval. A consumable `gpu` complex exists with no capacity, so a job asking for
# a GPU stays queued (tests use that for a deterministic "queued" state).

export SGE_ROOT=/var/lib/gridengine SGE_CELL=default

sge_files() {  # the configuration objects qconf loads (written fresh each time; idempotent)
    local dir="$ENGINES_DIR/sge/conf" slots
    slots="$(nproc)"
    mkdir -p "$dir"
    cat > "$dir/smp" <<CONF
pe_name            smp
slots              999
user_lists         NONE
xuser_lists        NONE
start_proc_args    NONE
stop_proc_args     NONE
allocation_rule    \$pe_slots
control_slaves     FALSE
job_is_first_task  TRUE
urgency_slots      min
accounting_summary FALSE
qsort_args         NONE
CONF
    cat > "$dir/all.q" <<CONF
qname                 all.q
hostlist              $HOST
seq_no                0
load_thresholds       NONE
suspend_thresholds    NONE
nsuspend              1
suspend_interval      00:05:00
priority              0
min_cpu_interval      00:05:00
processors            UNDEFINED
qtype                 BATCH INTERACTIVE
ckpt_list             NONE
pe_list               smp
rerun                 FALSE
slots                 $slots
tmpdir                /tmp
shell                 /bin/sh
prolog                NONE
epilog                NONE
shell_start_mode      posix_compliant
starter_method        NONE
suspend_method        NONE
resume_method         NONE
terminate_method      NONE
notify                00:00:60
owner_list            NONE
user_lists            NONE
xuser_lists           NONE
subordinate_list      NONE
complex_values        NONE
projects              NONE
xprojects             NONE
calendar              NONE
initial_state         default
s_rt                  INFINITY
h_rt                  INFINITY
s_cpu                 INFINITY
h_cpu                 INFINITY
s_fsize               INFINITY
h_fsize               INFINITY
s_data                INFINITY
h_data                INFINITY
s_stack               INFINITY
h_stack               INFINITY
s_core                INFINITY
h_core                INFINITY
s_rss                 INFINITY
h_rss                 INFINITY
s_vmem                INFINITY
h_vmem                INFINITY
CONF
    cat > "$dir/exechost" <<CONF
hostname              $HOST
load_scaling          NONE
complex_values        gpu=0
user_lists            NONE
xuser_lists           NONE
projects              NONE
xprojects             NONE
usage_scaling         NONE
report_variables      NONE
CONF
}

sge_configure() {  # needs a running qmaster
    local dir="$ENGINES_DIR/sge/conf"
    sge_files
    qconf -sh 2>/dev/null | grep -qx "$HOST" || qconf -ah "$HOST" > /dev/null
    qconf -ss 2>/dev/null | grep -qx "$HOST" || qconf -as "$HOST" > /dev/null
    if ! qconf -sc | grep -q '^gpu '; then
        { qconf -sc | grep -v '^#'; echo "gpu gpu INT <= YES YES 0 0"; } > "$dir/complexes"
        qconf -Mc "$dir/complexes" > /dev/null
    fi
    if qconf -sp smp > /dev/null 2>&1; then qconf -Mp "$dir/smp" > /dev/null; else qconf -Ap "$dir/smp" > /dev/null; fi
    if qconf -se "$HOST" > /dev/null 2>&1; then qconf -Me "$dir/exechost" > /dev/null; else qconf -Ae "$dir/exechost" > /dev/null; fi
    if qconf -sq all.q > /dev/null 2>&1; then qconf -Mq "$dir/all.q" > /dev/null; else qconf -Aq "$dir/all.q" > /dev/null; fi
    # root submits the test jobs; accounting records are written at once (qacct right after a job)
    qconf -sconf global | sed -e 's/^min_uid .*/min_uid 0/' -e 's/^min_gid .*/min_gid 0/' \
        -e 's/accounting=true\( accounting_flush_time=[0-9:]*\)\{0,1\}/accounting=true accounting_flush_time=00:00:00/' \
        -e '/^#/d' > "$dir/global"
    qconf -Mconf "$dir/global" > /dev/null
    qconf -ssconf | sed -e 's/^schedule_interval .*/schedule_interval 0:0:1/' \
        -e 's/^flush_submit_sec .*/flush_submit_sec 1/' -e 's/^flush_finish_sec .*/flush_finish_sec 1/' \
        > "$dir/sched"
    qconf -Msconf "$dir/sched" > /dev/null
}

QMASTER_SPOOL=/var/spool/gridengine/qmaster

sge_qmaster_pid() {  # copy the running qmaster's pid into our pid file
    local pid
    pid="$(cat "$QMASTER_SPOOL/qmaster.pid" 2>/dev/null)" || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = sge_qmaster ] || return 1
    echo "$pid" > "$ENGINES_DIR/sge/qmaster.pid"
}

sge_job_runs() {  # a real job through the whole path: submit, schedule, execute, exit code back
    timeout 60 qsub -sync y -b y -o /dev/null -e /dev/null -N neuro-engine-check /bin/true
}

sge_up() {
    mkdir -p "$ENGINES_DIR/sge"
    apt_install debconf
    if ! dpkg-query -W -f='${Status}' gridengine-master 2>/dev/null | grep -q "install ok installed"; then
        debconf-set-selections <<SEL
gridengine-common shared/gridengineconfig boolean true
gridengine-common shared/gridenginecell string default
gridengine-common shared/gridenginemaster string $HOST
SEL
    fi
    apt_install gridengine-master gridengine-exec gridengine-client
    # the daemons run as sgeadmin and write their pid files here
    chown sgeadmin:sgeadmin "$ENGINES_DIR/sge"
    echo "$HOST localhost" > "$SGE_ROOT/$SGE_CELL/common/host_aliases"
    if ! pid_of sge qmaster > /dev/null; then
        log "starting sge_qmaster"
        rm -f "$QMASTER_SPOOL/qmaster.pid"
        /usr/sbin/sge_qmaster > "$ENGINES_DIR/sge/qmaster.log" 2>&1
        # this build ignores SGE_MASTER_PIDFILE: take the pid from the spool directory
        wait_for 30 "sge_qmaster pid" sge_qmaster_pid || die "sge_qmaster did not start"
    fi
    wait_for 60 "sge_qmaster" qconf -sh || die "sge_qmaster did not answer (log: $QMASTER_SPOOL/messages)"
    sge_configure
    if ! pid_of sge execd > /dev/null; then
        log "starting sge_execd"
        SGE_EXECD_PIDFILE="$ENGINES_DIR/sge/execd.pid" /usr/sbin/sge_execd > "$ENGINES_DIR/sge/execd.log" 2>&1
    fi
    qmod -cq all.q > /dev/null 2>&1 || true
    wait_for 60 "sge_execd" pid_of sge execd || die "sge_execd did not start (log: /var/spool/gridengine/execd/$HOST/messages)"
    sge_job_runs > /dev/null 2>&1 || die "a test job did not run through Grid Engine within 60 s"
    log "sge test job ran"
}

sge_down() {
    stop_pid sge execd
    stop_pid sge qmaster
}
