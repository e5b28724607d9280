# Sourced by scripts/demo-inner when user-mode Linux is not there: a library
# patron's temporary home from login to logout, on this machine, with fake
# users (nss_wrapper) and a private PAM configuration (pam_wrapper). Uses
# $build, $src, $T, pids and say from scripts/demo-inner; sets status.

# The library terminal: a tmphome root, a skeleton, a patron.
mkdir -m 0755 "$T/tmphome" "$T/skel" "$T/pam.d"
printf '# welcome to the library terminal\nexport EDITOR=nano\n' > "$T/skel/.bashrc"
mkdir -p "$T/skel/Documents" "$T/skel/.config/browser"
echo 'homepage=https://library.example/' > "$T/skel/.config/browser/prefs"
ln -s Documents "$T/skel/My Documents"
echo "root:x:0:0:root:/root:/bin/sh" > "$T/passwd"
echo "patron4711:x:24711:24711:Library patron 4711:$T/tmphome/patron4711:/bin/sh" >> "$T/passwd"
printf 'root:x:0:\npatron4711:x:24711:\n' > "$T/group"
echo "{ \"state_dir\": \"$T/state\" }" > "$T/pershomed.json"
cat > "$T/pam.d/library-login" <<PAM
session required $build/pam-shim/pam_pershome.so tmphome=$T/tmphome/ skel=$T/skel/ umask=0077
session required pam_permit.so
PAM
printf 'auth required pam_deny.so\naccount required pam_deny.so\nsession required pam_deny.so\n' > "$T/pam.d/other"

# A private system bus with the system bus's policy and pershome's own.
bus_config "$T/bus" > "$T/bus.conf"
# With the fake users too: the bus must know the patron's uid to let him in.
LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_PASSWD="$T/passwd" NSS_WRAPPER_GROUP="$T/group" \
    dbus-daemon --config-file="$T/bus.conf" --nofork --nopidfile --print-address=3 \
    3>"$T/bus.addr" 2>"$T/dbus.log" &
pids+=($!)
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$T/bus"
for _ in $(seq 100); do [ -s "$T/bus.addr" ] && break; sleep 0.05; done

say "pershomed starts (private bus, state in $T/state)"
LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_PASSWD="$T/passwd" NSS_WRAPPER_GROUP="$T/group" \
    "$build/daemon/pershomed" --config "$T/pershomed.json" 2>"$T/pershomed.log" &
pids+=($!)
for _ in $(seq 100); do busctl --system status org.pershome1 >/dev/null 2>&1 && break; sleep 0.05; done
busctl --system tree org.pershome1

say "patron4711 logs in (PAM service library-login: pam_pershome.so tmphome=$T/tmphome/)"
login_env=(LD_PRELOAD="libpam_wrapper.so libnss_wrapper.so" PAM_WRAPPER=1
           PAM_WRAPPER_SERVICE_DIR="$T/pam.d" NSS_WRAPPER_PASSWD="$T/passwd" NSS_WRAPPER_GROUP="$T/group")
env "${login_env[@]}" "$build/tests/integration/pershome-pam-login" library-login patron4711 <<'CMDS' | sed 's/^/   /'
run echo "I am $(id -un), my home is $HOME"; ls -la
run echo "Notes for my report" > report.txt; ls -l report.txt; cat report.txt
run busctl --system tree org.pershome1
run busctl --system get-property org.pershome1 /org/pershome1/session/patron4711 org.pershome1.Session Home Mode State References
close
CMDS

say "after logout"
for _ in $(seq 200); do [ -e "$T/tmphome/patron4711" ] || break; sleep 0.05; done
if [ -e "$T/tmphome/patron4711" ]; then
    echo "   the home is still there: $(ls -A "$T/tmphome")" ; status=1
else
    echo "   $T/tmphome/patron4711 is gone; tmphome root now holds: [$(ls -A "$T/tmphome")]"; status=0
fi
busctl --system tree org.pershome1

say "pershomed's log"
sed 's/^/   /' "$T/pershomed.log"
