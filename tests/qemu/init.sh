#!/bin/sh
# /init of the qemu kernel test's initramfs (busybox). Loads the real V4L2
# drivers and runs facewatch's capture against them; every result line
# starts with "FWQ" and run.sh checks them on the serial console.
# facewatch's programs and the clip are in /fw.
/bin/busybox mkdir -p /proc /sys /dev /tmp /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
echo "FWQ boot kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo) uptime=$(cut -d" " -f1 /proc/uptime)"

# 1. vivid: a capture-only webcam-like node (YUYV and friends, real vb2)
modprobe vivid n_devs=1 node_types=0x1
echo "FWQ modprobe vivid rc=$? nodes=$(ls /dev/video* 2>/dev/null | tr '\n' ' ')"
/fw/facectl cameras > /tmp/cam1.json
echo "FWQ cameras-vivid rc=$?"
sed 's/^/FWQ-CAM1 /' /tmp/cam1.json
# 40 frames of YUYV, with an unbind/bind of the driver half way (a real
# unplug: the node goes away under the open file descriptor)
/fw/capture_probe /dev/video0 yuyv 50 30 --unplug /sys/bus/platform/drivers/vivid vivid.0
echo "FWQ probe-yuyv rc=$?"
rmmod vivid

# 2. v4l2loopback: an MJPEG "camera" fed from the shared clip
modprobe v4l2loopback video_nr=5 exclusive_caps=1 card_label=fwloop
echo "FWQ modprobe v4l2loopback rc=$?"
/fw/mjpeg_feed /dev/video5 /fw/clip.mjpeg 30 60 > /tmp/feed.log 2>&1 &
feeder=$!
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	grep -q "FWQ feed" /tmp/feed.log && break
	sleep 0.2
done
cat /tmp/feed.log
/fw/facectl cameras > /tmp/cam2.json
echo "FWQ cameras-loopback rc=$?"
sed 's/^/FWQ-CAM2 /' /tmp/cam2.json
/fw/capture_probe /dev/video5 mjpeg 50 30 --expect /fw/clip.mjpeg
echo "FWQ probe-mjpeg rc=$?"
kill $feeder
wait $feeder 2>/dev/null

echo "FWQ done uptime=$(cut -d" " -f1 /proc/uptime)"
poweroff -f
