# Single-node Slurm (Debian's slurm-wlm 22.05): munged, slurmctld and slurmd started by pid, with
# the config, state and the job-completion file under $ENGINES_DIR/slurm. Accounting is disabled,
# as on many clusters, so status must come from squeue and `sacct -c` (the jobcomp file).

slurm_conf() {
    local dir="$ENGINES_DIR/slurm" cpus mem
    cpus="$(nproc)"
    mem="$(awk '/MemTotal/ { printf "%d", $2 / 1024 * 0.8 }' /proc/meminfo)"
    mkdir -p "$dir/state" "$dir/spool"
    cat > "$dir/slurm.conf" <<CONF
ClusterName=neuro
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.daemon.pid
SlurmdPidFile=$dir/slurmd.daemon.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.txt
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
}

slurm_node_idle() {
    [ "$(SLURM_CONF="$ENGINES_DIR/slurm/slurm.conf" sinfo -h -o %t 2>/dev/null)" = idle ]
}

slurm_up() {
    mkdir -p "$ENGINES_DIR/slurm"
    apt_install slurm-wlm munge
    [ -s /etc/munge/munge.key ] || die "/etc/munge/munge.key is missing (the munge package creates it)"
    export SLURM_CONF="$ENGINES_DIR/slurm/slurm.conf"
    if ! pid_of slurm munged > /dev/null; then
        mkdir -p /run/munge && chown munge:munge /run/munge
        log "starting munged"
        start_bg slurm munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground
        wait_for 20 "munged" munge -n || die "munged did not start (log: $ENGINES_DIR/slurm/munged.log)"
    fi
    if ! pid_of slurm slurmctld > /dev/null; then
        slurm_conf
        log "starting slurmctld and slurmd"
        start_bg slurm slurmctld /usr/sbin/slurmctld -D -i
    fi
    pid_of slurm slurmd > /dev/null || start_bg slurm slurmd /usr/sbin/slurmd -D
    wait_for 60 "slurm node idle" slurm_node_idle \
        || die "the slurm node is not idle after 60 s (logs: $ENGINES_DIR/slurm/*.log)"
}

slurm_down() {
    stop_pid slurm slurmd
    stop_pid slurm slurmctld
    stop_pid slurm munged
}
