/* Loaded into Janus by huiyi-bench (LD_PRELOAD) so that its ICE offers 127.0.0.1 and nothing
 * else. Janus 1.1 never gathers on an interface flagged IFF_LOOPBACK, and libnice, given no
 * address, falls back to every non-loopback one. This getifaddrs() wrapper makes "lo" look like
 * an ordinary interface and every other interface look down.
 * Build: gcc -shared -fPIC -O2 -o lo_only_ifaddrs.so lo_only_ifaddrs.c -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <string.h>

int getifaddrs(struct ifaddrs **ifap) {
	static int (*real)(struct ifaddrs **) = NULL;
	if(!real)
		real = (int (*)(struct ifaddrs **))dlsym(RTLD_NEXT, "getifaddrs");
	int rc = real(ifap);
	if(rc != 0)
		return rc;
	for(struct ifaddrs *i = *ifap; i != NULL; i = i->ifa_next) {
		if(i->ifa_name != NULL && strcmp(i->ifa_name, "lo") == 0)
			i->ifa_flags &= ~IFF_LOOPBACK;
		else
			i->ifa_flags &= ~(IFF_UP | IFF_RUNNING);
	}
	return 0;
}
